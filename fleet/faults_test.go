package fleet

import (
	"maps"
	"testing"

	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

func TestBadInputIsRejectedCountedAndTheRestWritten(t *testing.T) {
	t.Parallel()
	in := testserver.Influx(t)
	f := startFleet(t, testConfig(in))
	a := mustOffice(t, f.Addrs().MQTT, "10001", "secret-a")
	telemetry := uplink.Topic("10001", uplink.KindTelemetry)

	a.publish(t, telemetry, []byte("definitely not gzip"))
	if ack := a.waitAck(t, 0); ack.Status != uplink.AckRejected || ack.Reasons["malformed"] != 1 {
		t.Fatalf("garbage: %+v", ack)
	}

	a.sendBatch(t, batch(t, "20002", 500, 5)) // header names another office
	if ack := a.waitAck(t, 500); ack.Status != uplink.AckRejected || ack.Reasons["wrong_office"] != 1 {
		t.Fatalf("wrong header office: %+v", ack)
	}

	half := batch(t, "10001", 1000, 10)
	half.Lines = append(half.Lines, []byte("this is not line protocol\n"+
		"pv,device=inv1 W=1 631152000000000000\n"+ // 1990: out of range
		"pv,device=inv1 W=1\n"+ // no timestamp
		"pv,device=inv1,office=20002 W=1 1740816000000000000\n")...) // another office's line
	a.sendBatch(t, half)
	ack := a.waitAck(t, 1000)
	want := map[string]int{"invalid_line": 1, "invalid_value": 2, "wrong_office": 1}
	if ack.Status != uplink.AckOK || ack.Accepted != 10 || ack.Rejected != 4 || !maps.Equal(ack.Reasons, want) {
		t.Fatalf("half-invalid batch: %+v, want ok 10 accepted, reasons %v", ack, want)
	}

	// InfluxDB refuses a field type conflict: ack ok (resending cannot help), line counted.
	conflict := batch(t, "10001", 2000, 3)
	conflict.Lines = append(conflict.Lines, []byte("pv,device=inv1 W=\"text\" 1740816000000000001\n")...)
	a.sendBatch(t, conflict)
	ack = a.waitAck(t, 2000)
	if ack.Status != uplink.AckOK || ack.Accepted != 3 || ack.Reasons["influx_rejected"] != 1 {
		t.Fatalf("type conflict: %+v", ack)
	}

	a.sendBatch(t, batch(t, "10001", 3000, 7)) // still serving
	if ack := a.waitAck(t, 3000); ack.Status != uplink.AckOK || ack.Accepted != 7 {
		t.Fatalf("after bad input: %+v", ack)
	}
	if n := countRows(t, in, "pv", "office='10001'"); n != 10+3+7 {
		t.Fatalf("rows = %d, want 20", n)
	}
	if n := countRows(t, in, "pv", "office='20002'"); n != 0 {
		t.Fatalf("rows for the other office = %d, want 0", n)
	}
	o, _ := f.Office("10001")
	if o.SamplesRejected["invalid_line"] != 1 || o.SamplesRejected["malformed"] != 1 || o.SamplesRejected["influx_rejected"] != 1 {
		t.Fatalf("office counters: %+v", o.SamplesRejected)
	}
}

func TestInfluxDownAnswersRetryThenBatchIsWrittenOnResend(t *testing.T) {
	t.Parallel()
	in := testserver.Influx(t)
	f := startFleet(t, testConfig(in))
	a := mustOffice(t, f.Addrs().MQTT, "10001", "secret-a")

	a.sendBatch(t, batch(t, "10001", 1, 20))
	if ack := a.waitAck(t, 1); ack.Status != uplink.AckOK {
		t.Fatalf("before outage: %+v", ack)
	}
	in.Kill()
	held := batch(t, "10001", 100, 30)
	for range 3 { // the edge keeps resending while InfluxDB is down
		a.sendBatch(t, held)
		if ack := a.waitAck(t, 100); ack.Status != uplink.AckRetry || ack.Accepted != 0 {
			t.Fatalf("with InfluxDB down: %+v, want retry", ack)
		}
	}
	if f.Status().InfluxUp {
		t.Fatal("status says InfluxDB up during the outage")
	}
	if err := in.Restart(); err != nil {
		t.Fatal(err)
	}
	a.sendBatch(t, held)
	if ack := a.waitAck(t, 100); ack.Status != uplink.AckOK || ack.Accepted != 30 {
		t.Fatalf("after restart: %+v", ack)
	}
	if n := countRows(t, in, "pv", "office='10001'"); n != 50 {
		t.Fatalf("rows = %d, want 50", n)
	}
	if s := f.Status(); s.BatchesRetry != 3 || s.BatchesOK != 2 || !s.InfluxUp {
		t.Fatalf("status %+v", s)
	}
}

func TestRedeliveredBatchIsCountedOnce(t *testing.T) {
	t.Parallel()
	in := testserver.Influx(t)
	f := startFleet(t, testConfig(in))
	a := mustOffice(t, f.Addrs().MQTT, "10001", "secret-a")
	b := batch(t, "10001", 7, 25)
	for i := range 2 {
		a.sendBatch(t, b)
		if ack := a.waitAck(t, 7); ack.Status != uplink.AckOK || ack.Accepted != 25 {
			t.Fatalf("delivery %d: %+v", i+1, ack)
		}
	}
	if n := countRows(t, in, "pv", "office='10001'"); n != 25 {
		t.Fatalf("rows after redelivery = %d, want 25", n)
	}
}
