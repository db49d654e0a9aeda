package ocpp_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/polis-edge/polis/protocols/ocpp"
)

// FuzzFrontFrames sends arbitrary frames to a running central system over a
// real WebSocket, in both OCPP versions, and checks after each that the
// service still answers the charger, that live state holds only finite
// numbers and plausible times, and that nothing panicked. Seeds: the
// testdata/fuzz corpus (valid messages of every kind, and the hostile frames
// issue 9 found) plus f.Add below.
func FuzzFrontFrames(f *testing.F) {
	for _, seed := range []string{
		`[2,"1","Heartbeat",{}]`,
		`[2,"2","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Charging"}]`,
		`[2,"3","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2099-01-01T00:00:00Z","sampledValue":[{"value":"NaN","measurand":"Power.Active.Import"}]}]}]`,
		`[2,"4","StartTransaction",{"connectorId":1,"idTag":"04A1B2C3","meterStart":0,"timestamp":"2026-01-01T10:00:00Z"}]`,
		`[2,"5","TransactionEvent",{"eventType":"Started","timestamp":"2026-03-02T08:00:01Z","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"t"},"evse":{"id":1}}]`,
		`[99,"6"]`, `[5,"7","Heartbeat",{}]`, `[3,"8",{}]`, `[4,"9","GenericError","",{}]`, `[]`, `{}`, `"x"`, `[2,"",""]`,
	} {
		f.Add(byte(0), []byte(seed))
		f.Add(byte(1), []byte(seed))
	}
	h := start(f, fuzzConfig(), openDB(f), &recorder{})
	conns := map[string]*websocket.Conn{}
	dial := func(t *testing.T, proto string) *websocket.Conn {
		if c := conns[proto]; c != nil {
			return c
		}
		id := map[string]string{"ocpp1.6": "CP01", "ocpp2.0.1": "CP02"}[proto]
		d := websocket.Dialer{Subprotocols: []string{proto}}
		c, _, err := d.Dial(h.url()+"/"+id, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", id, err)
		}
		conns[proto] = c
		return c
	}
	f.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	f.Fuzz(func(t *testing.T, version byte, frame []byte) {
		proto := "ocpp1.6"
		if version%2 == 1 {
			proto = "ocpp2.0.1"
		}
		c := dial(t, proto)
		if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
			delete(conns, proto) // closed (an oversized frame does that): redial next time
			return
		}
		// A Heartbeat must still be answered: the service neither crashed
		// nor wedged on the frame.
		probe := fmt.Sprintf("probe-%d", time.Now().UnixNano())
		if err := c.WriteMessage(websocket.TextMessage, []byte(`[2,"`+probe+`","Heartbeat",{}]`)); err != nil {
			delete(conns, proto)
			return
		}
		for {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, data, err := c.ReadMessage()
			if err != nil {
				if len(frame) > fuzzMaxBytes {
					delete(conns, proto)
					return
				}
				t.Fatalf("connection lost after frame %q: %v", frame, err)
			}
			var msg []any
			if err := json.Unmarshal(data, &msg); err != nil || len(msg) < 3 {
				t.Fatalf("server sent a malformed frame %q after %q", data, frame)
			}
			if msg[0] == 2.0 { // a server call: refuse it as a minimal charger would
				_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`[4,%q,"NotSupported","",{}]`, msg[1])))
				continue
			}
			if msg[1] == probe {
				if msg[0] != 3.0 {
					t.Fatalf("probe answered %s after %q", data, frame)
				}
				break
			}
		}
		for _, cs := range h.svc.Snapshot() {
			for _, v := range []float64{cs.PowerW, cs.EnergyWh, cs.OfferedA, cs.SoCPct, cs.CurrentA[0], cs.VoltageV[0]} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("non-finite live state %+v after %q", cs, frame)
				}
			}
			if cs.MeterAt.After(time.Now().Add(ocpp.DefaultClockTolerance)) || cs.StatusAt.After(time.Now().Add(ocpp.DefaultClockTolerance)) {
				t.Fatalf("future live state %+v after %q", cs, frame)
			}
		}
	})
}

const fuzzMaxBytes = 8 << 10

func fuzzConfig() ocpp.Config {
	cfg := baseConfig()
	cfg.MaxMessageBytes = fuzzMaxBytes
	cfg.RateLimit.MessagesPerSecond, cfg.RateLimit.Burst = 1e6, 1e6 // the fuzzer sends as fast as it can
	return cfg
}
