package mqtt

import (
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/mqtt/locker"
)

// FuzzLockerMessage: any payload on a bank's status or event topic either
// is refused by locker.Decode or becomes samples the buffer can store; it
// never panics. Seeds: testdata/fuzz/FuzzLockerMessage and below.
func FuzzLockerMessage(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"bank":"bank1","power":"mains","online":true,"compartments":[{"id":"A01","state":"occupied","door":"closed"}],"temperature_c":21.5}`,
		`{"v":1,"id":"ev-1","type":"deposit","compartment":"A01","parcel":"P123","time":"2025-06-01T10:00:00Z"}`,
		`{"v":1,"id":"ev-2","type":"tamper","compartment":"A\n01","time":"1970-01-01T00:00:00Z"}`,
		`{"v":1,"power":"battery","compartments":[{"id":"A\\","state":"empty","door":"open"}]}`,
		`{"v":1,"id":"c1","result":"done"}`,
		`{"v":2}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	d, err := newDevice(Device{ID: "bank1", Kind: KindLocker}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, payload []byte) {
		var st locker.Status
		if locker.Decode(payload, &st) == nil {
			for _, s := range statusSamples(d, st, now) {
				if _, err := s.AppendLine(nil); err != nil {
					t.Fatalf("status %q: sample the buffer would refuse: %v", payload, err)
				}
			}
		}
		var ev locker.Event
		if locker.Decode(payload, &ev) == nil {
			if _, err := eventSample(d, ev, now).AppendLine(nil); err != nil {
				t.Fatalf("event %q: sample the buffer would refuse: %v", payload, err)
			}
		}
		var res locker.Result
		_ = locker.Decode(payload, &res)
		var cmd locker.Command
		_ = locker.Decode(payload, &cmd)
	})
}
