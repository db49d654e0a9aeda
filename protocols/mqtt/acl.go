package mqtt

import (
	"path"
	"strings"

	"github.com/polis-edge/polis/protocols/mqtt/locker"
	"github.com/polis-edge/polis/protocols/mqtt/mapping"
)

// acl is default deny: a username may publish and subscribe only to the
// filters listed for it. The edge itself uses the broker's inline client,
// which bypasses the ACL; so only the edge ever writes a locker's cmd topic.
type acl struct {
	passwords map[string]string
	write     map[string][][]string // username → allowed publish filters (split)
	read      map[string][][]string
}

func newACL(cfg Config) *acl {
	a := &acl{passwords: map[string]string{}, write: map[string][][]string{}, read: map[string][][]string{}}
	add := func(m map[string][][]string, user string, filters ...string) {
		for _, f := range filters {
			m[user] = append(m[user], strings.Split(f, "/"))
		}
	}
	for _, d := range cfg.Devices {
		if a.passwords[d.Username] == "" {
			a.passwords[d.Username] = d.Password
		}
		switch {
		case d.Kind == KindLocker:
			for _, k := range []string{locker.KindStatus, locker.KindEvent, locker.KindResult, locker.KindAvailability} {
				add(a.write, d.Username, locker.Topic(d.ID, k))
			}
			add(a.read, d.Username, locker.Topic(d.ID, locker.KindCmd))
		default:
			if topicOverlaps(d.Topic, locker.TopicRoot) {
				continue // refused by Validate; never grant a sensor the locker namespace
			}
			add(a.write, d.Username, d.Topic, d.Topic+"/#")
			add(a.read, d.Username, d.Topic+"/#")
			if d.Preset == mapping.PresetZigbee2MQTT {
				// The bridge announces itself and its devices under <base>/bridge.
				base := path.Dir(d.Topic)
				add(a.write, d.Username, base+"/bridge/#")
				add(a.read, d.Username, base+"/bridge/#")
			}
			if d.Preset == mapping.PresetTasmota {
				id := path.Base(d.Topic)
				add(a.write, d.Username, "stat/"+id+"/#")
				add(a.read, d.Username, "cmnd/"+id+"/#")
			}
		}
	}
	for _, o := range cfg.Operators {
		a.passwords[o.Username] = o.Password
		for _, p := range append(append([]string(nil), o.MayOpen...), o.MayManage...) {
			bank := path.Dir(p)
			for _, d := range cfg.Devices {
				if ok, _ := path.Match(bank, d.ID); ok && d.Kind == KindLocker {
					for _, k := range []string{locker.KindStatus, locker.KindEvent, locker.KindResult, locker.KindAvailability} {
						add(a.read, o.Username, locker.Topic(d.ID, k))
					}
					add(a.write, o.Username, locker.Topic(d.ID, locker.KindRequest))
					add(a.read, o.Username, locker.ReplyTopic(d.ID, o.Username))
				}
			}
		}
	}
	return a
}

func (a *acl) allowed(user, topic string, write bool) bool {
	filters := a.read[user]
	if write {
		filters = a.write[user]
	}
	t := strings.Split(topic, "/")
	for _, f := range filters {
		if covers(f, t) {
			return true
		}
	}
	return false
}

// covers reports whether allowed filter f includes every topic that topic
// (a topic name, or a subscription filter with wildcards) can name.
func covers(f, topic []string) bool {
	for i, seg := range f {
		if seg == "#" {
			return true
		}
		if i >= len(topic) {
			return false
		}
		switch {
		case topic[i] == "#":
			return false
		case seg == "+":
			continue
		case topic[i] != seg: // also refuses "+" under a literal
			return false
		}
	}
	return len(f) == len(topic)
}
