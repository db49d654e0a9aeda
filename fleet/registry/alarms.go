package registry

import (
	"sort"
	"strings"

	"github.com/polis-edge/polis/protocols/sample"
)

// raise opens an alarm from a warning/critical event. A newer event of the
// same device and kind replaces the older one, so a flapping sensor shows as
// one alarm; the office keeps at most keep alarms, newest first.
func (r *Registry) raise(o *Office, ev sample.Sample) {
	a := Alarm{
		Office:   o.ID,
		Device:   ev.Tags[sample.TagDevice],
		Kind:     ev.Tags["kind"],
		Severity: strings.ToLower(str(ev.Fields["severity"])),
		Message:  str(ev.Fields["message"]),
		Time:     ev.Time,
	}
	kept := o.OpenAlarms[:0:0]
	for _, old := range o.OpenAlarms {
		if old.Device == a.Device && old.Kind == a.Kind {
			if old.Time.After(a.Time) {
				return // a late, older duplicate (redelivery): keep the newer one
			}
			continue
		}
		kept = append(kept, old)
	}
	kept = append(kept, a)
	sort.Slice(kept, func(i, j int) bool { return kept[i].Time.After(kept[j].Time) })
	if len(kept) > r.keep {
		kept = kept[:r.keep]
	}
	o.OpenAlarms = kept
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
