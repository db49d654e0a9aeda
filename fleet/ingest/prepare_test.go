package ingest

import (
	"bytes"
	"testing"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/uplink"
)

func TestPrepareStampsTagsOnEveryPath(t *testing.T) {
	in := New(nil, func(string) []Tag {
		return []Tag{{Key: "comune", Value: "Rocca di Papa"}, {Key: "region", Value: "Lazio"}}
	})
	lines := []byte(`pv,device=inv1,office=47011 ac_power_w=1200 1780315200000000000
pv,device=inv1 ac_power_w=1300 1780315201000000000
pv,device=inv1,office=99999 ac_power_w=1 1780315202000000000
pv,device=inv1,office=47011 count=3u 1780315203000000000
pv,device=inv1,region=Moon ac_power_w=5 1780315204000000000
events,device=lk1,kind=locker_tamper message="forced",severity="critical" 1780315205000000000
pv ac_power_w= 1780315206000000000
pv,device=inv1 ac_power_w=1 100
`)
	ack := uplink.Ack{Reasons: map[string]int{}}
	out, _, events, _ := in.prepare("47011", lines, &ack, nil, nil)
	if ack.Accepted != 5 || ack.Rejected != 3 || ack.Reasons[ReasonWrongOffice] != 1 ||
		ack.Reasons[ReasonInvalidLine] != 1 || ack.Reasons[ReasonInvalidValue] != 1 {
		t.Fatalf("ack %+v", ack)
	}
	if len(events) != 1 || events[0].Tags["kind"] != "locker_tamper" {
		t.Fatalf("alarm events: %+v", events)
	}
	samples, err := sample.Parse(out)
	if err != nil {
		t.Fatalf("output is not valid line protocol: %v\n%s", err, out)
	}
	if len(samples) != 5 {
		t.Fatalf("%d lines written, want 5:\n%s", len(samples), out)
	}
	for _, s := range samples {
		if s.Tags["office"] != "47011" || s.Tags["comune"] != "Rocca di Papa" || s.Tags["region"] != "Lazio" {
			t.Errorf("%s at %s lacks office or registry tags: %v", s.Measurement, s.Time, s.Tags)
		}
	}
	if bytes.Contains(out, []byte("3u")) {
		t.Error("an unsigned field went to InfluxDB 1.8 as unsigned")
	}
	if bytes.Contains(out, []byte("Moon")) {
		t.Error("a line overrode the registry's region")
	}
}
