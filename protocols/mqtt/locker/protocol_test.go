package locker

import (
	"errors"
	"testing"
)

func TestDecodeRefusesWhatTheProtocolForbids(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		msg     interface{ validate() error }
		ok      bool
	}{
		{"status ok", `{"v":1,"bank":"b","power":"mains","compartments":[{"id":"A01","state":"empty","door":"closed"}]}`, &Status{}, true},
		{"status bad state", `{"v":1,"power":"mains","compartments":[{"id":"A01","state":"full","door":"closed"}]}`, &Status{}, false},
		{"status bad power", `{"v":1,"power":"solar"}`, &Status{}, false},
		{"status bad door", `{"v":1,"power":"mains","compartments":[{"id":"A01","state":"empty","door":"ajar"}]}`, &Status{}, false},
		{"future version", `{"v":2,"power":"mains"}`, &Status{}, false},
		{"event ok", `{"v":1,"id":"e1","type":"tamper","compartment":"A01"}`, &Event{}, true},
		{"event unknown type", `{"v":1,"id":"e1","type":"explosion"}`, &Event{}, false},
		{"event without id", `{"v":1,"type":"pickup"}`, &Event{}, false},
		{"result ok", `{"v":1,"id":"c1","result":"refused","reason":"busy"}`, &Result{}, true},
		{"result timed_out is edge-only", `{"v":1,"id":"c1","result":"timed_out"}`, &Result{}, false},
		{"command open needs compartment", `{"v":1,"id":"c1","cmd":"open"}`, &Command{}, false},
		{"command ok", `{"v":1,"id":"c1","cmd":"request_status"}`, &Command{}, true},
		{"not json", `{"v":1,`, &Event{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Decode([]byte(tc.payload), tc.msg)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrProtocol) {
				t.Errorf("error not wrapped in ErrProtocol: %v", err)
			}
		})
	}
}

func TestTopics(t *testing.T) {
	bank, kind, ok := ParseTopic(Topic("bank1", KindResult))
	if !ok || bank != "bank1" || kind != KindResult {
		t.Errorf("ParseTopic = %q %q %v", bank, kind, ok)
	}
	for _, bad := range []string{"polis/locker/v1/bank1", "polis/locker/v2/b/status", "polis/locker/v1/b/status/x"} {
		if _, _, ok := ParseTopic(bad); ok {
			t.Errorf("ParseTopic(%q) accepted", bad)
		}
	}
}
