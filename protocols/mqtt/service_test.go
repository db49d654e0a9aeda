package mqtt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/mqtt/mqttsim"
	"github.com/polis-edge/polis/protocols/sample"
)

func readPayload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "mqtt", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func officeConfig() Config {
	return Config{
		Operators: []Operator{
			{Username: "facility", Password: "fm-pass", MayOpen: []string{"bank1/*"}, MayManage: []string{"bank1/*"}},
			{Username: "clerk", Password: "clerk-pass", MayOpen: []string{"bank1/A0?"}},
		},
		Devices: []Device{
			{ID: "th-hall", Password: "th-pass", Preset: "zigbee2mqtt", Room: "hall"},
			{ID: "air-hall", Username: "z2m", Password: "z2m-pass", Preset: "zigbee2mqtt", Room: "hall"},
			{ID: "leak-wc", Username: "z2m", Password: "z2m-pass", Preset: "zigbee2mqtt", Room: "wc"},
			{ID: "plug-ac", Password: "plug-pass", Preset: "tasmota"},
			{ID: "bank1", Kind: KindLocker, Password: "bank-pass"},
		},
	}
}

func TestPresetsOverEmbeddedBroker(t *testing.T) {
	rec := newRecorder()
	s := startService(t, officeConfig(), rec, openDB(t))
	url := brokerURL(s)
	th := mustDial(t, url, "th-hall", "th-pass")
	publish(t, th, "zigbee2mqtt/th-hall", readPayload(t, "z2m_climate.json"))
	gw := mustDial(t, url, "z2m", "z2m-pass")
	publish(t, gw, "zigbee2mqtt/air-hall", readPayload(t, "z2m_air.json"))
	publish(t, gw, "zigbee2mqtt/leak-wc", readPayload(t, "z2m_leak.json"))
	plug := mustDial(t, url, "plug-ac", "plug-pass")
	publish(t, plug, "tele/plug-ac/SENSOR", readPayload(t, "tasmota_sensor_energy.json"))

	env := rec.WaitFor(t, "th-hall env", 1, measurement("th-hall", "env"))[0]
	if env.Fields["temperature_c"] != 21.7 || env.Fields["humidity_pct"] != 48.2 || env.Tags["room"] != "hall" {
		t.Errorf("th-hall env = %+v", env)
	}
	air := rec.WaitFor(t, "air-hall env", 1, measurement("air-hall", "env"))[0]
	if air.Fields["co2_ppm"] != 812.0 || air.Fields["pm25_ugm3"] != 9.5 {
		t.Errorf("air-hall env = %+v", air)
	}
	rec.WaitFor(t, "leak sample", 1, measurement("leak-wc", "leak"))
	rec.WaitFor(t, "water_leak event", 1, event("leak-wc", "water_leak"))
	sub := rec.WaitFor(t, "plug submeter", 1, measurement("plug-ac", "submeter"))[0]
	if sub.Fields["energy_kwh"] != 1532.118 || sub.Fields["power_w"] != 850.0 {
		t.Errorf("plug submeter = %+v", sub)
	}
	for _, d := range s.Devices() {
		if d.ID == "th-hall" && (d.State != "ok" || d.Counters["samples"] != 2) {
			t.Errorf("th-hall health = %+v", d)
		}
	}
}

func TestACLAndCredentials(t *testing.T) {
	rec := newRecorder()
	s := startService(t, officeConfig(), rec, openDB(t))
	url := brokerURL(s)

	if _, err := dial(t, url, "th-hall", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := dial(t, url, "nobody", "x"); err == nil {
		t.Fatal("unknown user accepted")
	}
	waitCounter(t, s, "th-hall", "rejected_auth_failed", 1)

	// The bank listens to its command topic; a sensor trying to command it
	// is refused and the bank hears nothing.
	bank := mustDial(t, url, "bank1", "bank-pass")
	heard := make(chan string, 10)
	bank.Subscribe("polis/locker/v1/bank1/cmd", 1, func(_ paho_Client, m paho_Message) { heard <- string(m.Payload()) }).Wait()
	th := mustDial(t, url, "th-hall", "th-pass")
	th.Publish("polis/locker/v1/bank1/cmd", 1, false, []byte(`{"v":1,"id":"evil","cmd":"open","compartment":"A01"}`)).WaitTimeout(2 * time.Second)
	waitCounter(t, s, "th-hall", "rejected_acl_denied", 1)

	// A sensor cannot publish as another sensor, nor an operator as a bank.
	th2 := mustDial(t, url, "th-hall", "th-pass")
	th2.Publish("zigbee2mqtt/air-hall", 1, false, []byte(`{"co2":5000}`)).WaitTimeout(2 * time.Second)
	waitCounter(t, s, "th-hall", "rejected_acl_denied", 2)
	fm := mustDial(t, url, "facility", "fm-pass")
	if tok := fm.Subscribe("polis/locker/v1/bank1/cmd", 1, nil); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		// MQTT 3.1.1 reports a refused subscription in the SUBACK code.
		if st := tok.(*paho_SubscribeToken).Result()["polis/locker/v1/bank1/cmd"]; st != 0x80 {
			t.Errorf("operator may read the command topic: suback %#x", st)
		}
	}
	fm.Publish("polis/locker/v1/bank1/event", 1, false, []byte(`{"v":1,"id":"x","type":"pickup","time":"2025-01-01T00:00:00Z"}`)).WaitTimeout(2 * time.Second)

	// The real edge command still gets through.
	if _, err := s.RequestStatus(context.Background(), "bank1", "facility", "st-1"); err == nil {
		// bank1 here is a bare client that never answers: the command times out,
		// but it must have been delivered.
	}
	select {
	case p := <-heard:
		if strings.Contains(p, "evil") {
			t.Fatalf("bank received the sensor's command: %s", p)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("bank never received the edge's command")
	}
	if got := rec.Find(event("bank1", "locker_pickup")); len(got) != 0 {
		t.Errorf("operator forged a bank event: %v", got)
	}
	if got := rec.Find(measurement("air-hall", "env")); len(got) != 0 {
		t.Errorf("spoofed reading stored: %v", got)
	}
}

func TestLockerCommandCycleWithAudit(t *testing.T) {
	rec := newRecorder()
	cfg := officeConfig()
	cfg.CommandTimeout = 3 * time.Second
	s := startService(t, cfg, rec, openDB(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bank := mqttsim.NewBank(mqttsim.BankConfig{ID: "bank1", Password: "bank-pass", Compartments: 12}, brokerURL(s), 1)
	go bank.Run(ctx)
	rec.WaitFor(t, "bank status", 12, measurement("bank1", "locker_compartment"))

	res, err := s.OpenCompartment(ctx, "bank1", "A03", "customer lost pickup code", "facility", "corr-1")
	if err != nil || res.Result != "done" {
		t.Fatalf("open = %+v, %v", res, err)
	}
	// A retry (HTTP client timed out, say) returns the first result and
	// does not reach the bank again.
	again, err := s.OpenCompartment(ctx, "bank1", "A03", "customer lost pickup code", "facility", "corr-1")
	if err != nil || again.Result != "done" || !again.FinishedAt.Equal(res.FinishedAt) {
		t.Fatalf("retry = %+v, %v", again, err)
	}
	if n := bank.Executed(); n != 1 {
		t.Errorf("bank executed %d commands, want 1", n)
	}
	if _, err := s.OpenCompartment(ctx, "bank1", "A04", "other", "facility", "corr-1"); err == nil {
		t.Error("reused correlation id with other parameters accepted")
	}
	// The clerk may open A0x only.
	ref, err := s.OpenCompartment(ctx, "bank1", "B01", "curious", "clerk", "corr-2")
	if err != nil || ref.Result != "refused" || !strings.Contains(ref.Detail, "not authorised") {
		t.Fatalf("unauthorised open = %+v, %v", ref, err)
	}
	oos, err := s.SetOutOfService(ctx, "bank1", "A05", true, "hinge broken", "facility", "corr-3")
	if err != nil || oos.Result != "done" {
		t.Fatalf("out of service = %+v, %v", oos, err)
	}
	// The bank refuses to open an out-of-service compartment.
	if r, _ := s.OpenCompartment(ctx, "bank1", "A05", "test", "facility", "corr-4"); r.Result != "refused" {
		t.Errorf("open out-of-service = %+v", r)
	}
	if n := bank.Executed(); n != 3 {
		t.Errorf("bank executed %d commands, want 3", n)
	}

	audit, err := s.Audit("corr-1")
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, e := range audit {
		steps = append(steps, e.Step)
		if e.Operator != "facility" || e.Reason != "customer lost pickup code" {
			t.Errorf("audit entry lacks who/why: %+v", e)
		}
	}
	if got := strings.Join(steps, ","); !strings.HasPrefix(got, "requested,sent,done,retry") {
		t.Errorf("audit steps = %s", got)
	}
	evs := rec.WaitFor(t, "command events", 4, event("bank1", "locker_command"))
	results := map[string]string{}
	for _, e := range evs {
		results[e.Fields["correlation_id"].(string)] = e.Fields["result"].(string)
	}
	if results["corr-1"] != "done" || results["corr-2"] != "refused" || results["corr-4"] != "refused" {
		t.Errorf("command events = %v", results)
	}

	bank.Tamper("A07")
	tamper := rec.WaitFor(t, "tamper event", 1, event("bank1", "locker_tamper"))[0]
	if tamper.Fields["severity"] != sample.SeverityCritical || tamper.Fields["compartment"] != "A07" {
		t.Errorf("tamper event = %+v", tamper)
	}
}

func TestLockerCommandTimesOutAndSurvivesRestart(t *testing.T) {
	rec := newRecorder()
	db := openDB(t)
	cfg := officeConfig()
	cfg.CommandTimeout = time.Second
	s := startService(t, cfg, rec, db)
	res, err := s.OpenCompartment(context.Background(), "bank1", "A01", "no bank connected", "facility", "corr-t")
	if err != nil || res.Result != "timed_out" {
		t.Fatalf("open without bank = %+v, %v", res, err)
	}
	// A command whose caller gave up stays pending; a new edge process
	// closes it as timed_out rather than sending it again.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _ = s.OpenCompartment(ctx, "bank1", "A02", "edge dies now", "facility", "corr-p")
	cfg.ApplyDefaults()
	s2, err := New(cfg, db, rec, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.OpenCompartment(context.Background(), "bank1", "A02", "edge dies now", "facility", "corr-p")
	if err != nil || (got.Result != "timed_out") {
		t.Fatalf("after restart = %+v, %v", got, err)
	}
}
