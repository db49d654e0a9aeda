package ocpp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
	"github.com/polis-edge/polis/protocols/sample"
)

// The daemon restarts mid-session; the charger queues while it is down and
// its StopTransaction afterwards closes the session opened before, with the
// energy between the two meter readings. Samples queued offline land at
// their original time.
func TestRestartMidSession_OfflineQueueReplays(t *testing.T) {
	db, rec := openDB(t), &recorder{}
	cfg := baseConfig()
	h1 := start(t, cfg, db, rec)
	addr := h1.svc.Addr().String()
	sim, _ := runSim(t, ocppsim.Config{URL: h1.url(), ID: "CP01", Connectors: 2})
	eventually(t, "online", func() bool { c, _ := connector(h1, "CP01", 1); return c.Online })
	if err := sim.Plug(2, van); err != nil {
		t.Fatal(err)
	}
	eventually(t, "session open", func() bool { c, _ := connector(h1, "CP01", 2); return c.Session != nil })
	c, _ := connector(h1, "CP01", 2)
	txID := c.Session.TransactionID

	h1.stop()
	eventually(t, "charger notices", func() bool { return !sim.Connected() })
	eventually(t, "meter values queue up offline", func() bool { return sim.Queued() >= 2 })
	offlineFrom := time.Now()
	time.Sleep(300 * time.Millisecond)
	if err := sim.Unplug(2, core.ReasonLocal); err != nil {
		t.Fatal(err)
	}
	energy := math.Round(sim.Connector(2).EnergyWh)

	cfg.Listen = addr
	h2 := start(t, cfg, db, rec)
	c, _ = connector(h2, "CP01", 2)
	if c.Session == nil || c.Session.TransactionID != txID {
		t.Fatalf("after restart connector 2 session = %+v, want open %s", c.Session, txID)
	}
	eventually(t, "queue drained", func() bool { return sim.Connected() && sim.Queued() == 0 })
	eventually(t, "session closed", func() bool { return len(rec.Find(measurement("session", "state", "stopped"))) == 1 })
	stopped := rec.Find(measurement("session", "state", "stopped"))[0]
	if stopped.Fields["transaction_id"] != txID || stopped.Fields["energy_wh"].(float64) != energy {
		t.Errorf("stopped = %v, want tx %s energy %v", stopped.Fields, txID, energy)
	}
	old := rec.Find(func(s sample.Sample) bool {
		_, ok := s.Fields["energy_wh"]
		return s.Measurement == "evse" && ok && s.Time.Before(offlineFrom) && s.Time.After(offlineFrom.Add(-10*time.Second))
	})
	if len(old) == 0 {
		t.Error("no evse samples timestamped in the offline window")
	}
	if c, _ := connector(h2, "CP01", 2); c.Session != nil {
		t.Errorf("session still open after replay: %+v", c.Session)
	}
}

// A charger reconnects while its old socket still looks alive (the old one
// is silent, as after a NAT drop): the new connection wins.
func TestReconnectWhileAlive_ReplacesOldSocket(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	old := dialRaw(t, h, "CP01", "ocpp1.6")
	bootRaw(t, old)
	sim, _ := runSim(t, ocppsim.Config{URL: h.url(), ID: "CP01", Connectors: 2})
	eventually(t, "new connection serves the charger", func() bool {
		c, _ := connector(h, "CP01", 1)
		return sim.Connected() && c.Online && c.Status == "Available"
	})
	_ = old.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := old.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("old socket read err = %v, want close 1001", err)
	}
	res, err := h.svc.SetLimit(context.Background(), "CP01", 0, ocpp.Limit{Unit: "W", Value: 7400})
	if err != nil || res.Status != ocpp.LimitConfirmed {
		t.Fatalf("SetLimit via new socket = %+v, %v", res, err)
	}
	if n := counter(h, "CP01", "replaced_connections"); n != 1 {
		t.Errorf("replaced_connections = %d, want 1", n)
	}
}

// A charger that rejects profiles gets reported, and the same limit is not
// resent every cycle.
func TestSetLimit_RejectedIsReportedNotRetried(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	runSim(t, ocppsim.Config{URL: h.url(), ID: "CP02", Misbehave: ocppsim.Misbehave{RejectProfiles: true}})
	eventually(t, "online", func() bool { c, _ := connector(h, "CP02", 1); return c.Online })
	l := ocpp.Limit{Unit: "A", Value: 8}
	for i := 0; i < 3; i++ {
		res, err := h.svc.SetLimit(context.Background(), "CP02", 1, l)
		if err != nil || res.Status != ocpp.LimitRejected {
			t.Fatalf("SetLimit #%d = %+v, %v; want rejected", i, res, err)
		}
	}
	if n := counter(h, "CP02", "limit_rejected"); n != 1 {
		t.Errorf("profiles actually sent and rejected = %d, want 1", n)
	}
	if n := counter(h, "CP02", "limit_rejected_cached"); n != 2 {
		t.Errorf("answered from memory = %d, want 2", n)
	}
	if ev := h.rec.Find(func(s sample.Sample) bool { return s.Tags["kind"] == "limit_rejected" }); len(ev) != 1 {
		t.Errorf("limit_rejected events = %d, want 1", len(ev))
	}
	if res, _ := h.svc.SetLimit(context.Background(), "CP01", 1, l); res.Status != ocpp.LimitOffline {
		t.Errorf("SetLimit to an offline charger = %v, want offline", res.Status)
	}
}

func counter(h *harness, id, name string) uint64 {
	for _, d := range h.svc.Devices() {
		if d.ID == id {
			return d.Counters[name]
		}
	}
	return 0
}

func dialRaw(t *testing.T, h *harness, id, proto string) *websocket.Conn {
	t.Helper()
	return dialRawURL(t, h.svc, id, proto)
}

func dialRawURL(t *testing.T, svc *ocpp.Service, id, proto string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{proto}}
	c, resp, err := d.Dial("ws://"+svc.Addr().String()+"/ocpp/"+id, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", id, err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rawCall(t *testing.T, c *websocket.Conn, frame string) []any {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	return rawRead(t, c)
}

// rawCallNoT is rawCall for another goroutine: nil on any failure.
func rawCallNoT(c *websocket.Conn, frame string) []any {
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		return nil
	}
	for {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, data, err := c.ReadMessage()
		if err != nil {
			return nil
		}
		var msg []any
		if json.Unmarshal(data, &msg) != nil || len(msg) < 2 {
			return nil
		}
		if msg[0].(float64) != 2 {
			return msg
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`[4,%q,"NotSupported","raw test client",{}]`, msg[1])))
	}
}

// rawRead returns the next CALLRESULT/CALLERROR. A CALL from the server
// (the after-boot configuration, typically) is refused with NotSupported,
// as a minimal charger would: left unanswered, it would hold the service's
// one outstanding call and delay whatever the test sends next by a command
// timeout.
func rawRead(t *testing.T, c *websocket.Conn) []any {
	t.Helper()
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var msg []any
		if err := json.Unmarshal(data, &msg); err != nil {
			t.Fatalf("bad frame from server %s", data)
		}
		if msg[0].(float64) != 2 {
			return msg
		}
		refusal := fmt.Sprintf(`[4,%q,"NotSupported","raw test client",{}]`, msg[1])
		if err := c.WriteMessage(websocket.TextMessage, []byte(refusal)); err != nil {
			t.Fatalf("answer server call: %v", err)
		}
	}
}

func bootRaw(t *testing.T, c *websocket.Conn) {
	t.Helper()
	resp := rawCall(t, c, `[2,"b1","BootNotification",{"chargePointVendor":"Raw","chargePointModel":"Raw"}]`)
	if resp[0].(float64) != 3 || resp[2].(map[string]any)["status"] != "Accepted" {
		t.Fatalf("boot answer %v", resp)
	}
}

// Malformed and hostile frames get the right CALLERROR, are counted, and the
// connection keeps working; an oversized frame closes the connection.
func TestBadInput_CallErrorsAndConnectionSurvives(t *testing.T) {
	cfg := baseConfig()
	cfg.MaxMessageBytes = 4096
	h := start(t, cfg, openDB(t), &recorder{})
	c := dialRaw(t, h, "CP01", "ocpp1.6")
	bootRaw(t, c)
	cases := []struct{ name, frame, code string }{
		{"unknown action", `[2,"u1","Teleport",{}]`, "NotImplemented"},
		{"wrong type", `[2,"u2","StatusNotification",{"connectorId":"one","errorCode":"NoError","status":"Available"}]`, "FormationViolation"},
		{"missing field", `[2,"u3","StartTransaction",{"connectorId":1,"meterStart":0}]`, "OccurrenceConstraintViolation"},
		{"bad enum", `[2,"u4","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Dancing"}]`, "PropertyConstraintViolation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawCall(t, c, tc.frame)
			if resp[0].(float64) != 4 || resp[2] != tc.code {
				t.Errorf("answer %v, want CALLERROR %s", resp, tc.code)
			}
		})
	}
	for _, junk := range []string{`{not json`, `[2]`, `"hello"`} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	if resp := rawCall(t, c, `[2,"hb","Heartbeat",{}]`); resp[0].(float64) != 3 || resp[1] != "hb" {
		t.Fatalf("heartbeat after junk = %v", resp)
	}
	if n := counter(h, "CP01", "rejected_frames"); n < 3 {
		t.Errorf("rejected_frames = %d, want >= 3", n)
	}
	big := `[2,"big","DataTransfer",{"vendorId":"x","data":"` + strings.Repeat("A", 8192) + `"}]`
	_ = c.WriteMessage(websocket.TextMessage, []byte(big))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var err error
	for err == nil {
		_, _, err = c.ReadMessage()
	}
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Errorf("after oversized frame: %v, want close 1009", err)
	}
	eventually(t, "oversized counted", func() bool { return counter(h, "CP01", "oversized_frames") == 1 })
	c2 := dialRaw(t, h, "CP01", "ocpp1.6") // the daemon is fine and takes the charger back
	bootRaw(t, c2)
}

// A flood is slowed to the configured rate, not dropped and not fatal.
func TestFlood_IsRateLimited(t *testing.T) {
	cfg := baseConfig()
	cfg.RateLimit = ocpp.RateLimitConfig{MessagesPerSecond: 50, Burst: 10}
	h := start(t, cfg, openDB(t), &recorder{})
	c := dialRaw(t, h, "CP01", "ocpp1.6")
	bootRaw(t, c)
	const n = 60
	for i := 0; i < n; i++ {
		if err := c.WriteMessage(websocket.TextMessage, []byte(`[2,"f`+strings.Repeat("x", i%5)+`","Heartbeat",{}]`)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		rawRead(t, c)
	}
	if got := counter(h, "CP01", "rate_limited"); got < n-12 {
		t.Errorf("rate_limited = %d, want about %d", got, n-10)
	}
}

func TestUnknownCharger(t *testing.T) {
	cfg := baseConfig()
	h := start(t, cfg, openDB(t), &recorder{})
	d := websocket.Dialer{Subprotocols: []string{"ocpp1.6"}}
	_, resp, err := d.Dial(h.url()+"/STRANGER", nil)
	if err == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown charger dial: %v %v, want 404", err, resp)
	}
	h.stop()

	cfg.AllowUnknown, cfg.UnknownChargerBoot = true, "pending"
	h = start(t, cfg, openDB(t), &recorder{})
	c := dialRaw(t, h, "STRANGER", "ocpp1.6")
	resp2 := rawCall(t, c, `[2,"b1","BootNotification",{"chargePointVendor":"X","chargePointModel":"Y"}]`)
	if resp2[2].(map[string]any)["status"] != "Pending" {
		t.Errorf("unknown charger boot = %v, want Pending", resp2)
	}
	start := rawCall(t, c, `[2,"s1","StartTransaction",{"connectorId":1,"idTag":"04A1B2C3","meterStart":0,"timestamp":"2026-01-01T10:00:00Z"}]`)
	if st := start[2].(map[string]any)["idTagInfo"].(map[string]any)["status"]; st == "Accepted" {
		t.Errorf("pending charger got a transaction accepted")
	}
	if ev := h.rec.Find(func(s sample.Sample) bool { return s.Tags["kind"] == "unknown_charger" }); len(ev) != 1 {
		t.Errorf("unknown_charger events = %d", len(ev))
	}
}

func TestSubprotocolRequired(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	d := websocket.Dialer{Subprotocols: []string{"ocpp1.5"}}
	if _, resp, err := d.Dial(h.url()+"/CP01", nil); err == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("dial with ocpp1.5: %v, want 400", err)
	}
}
