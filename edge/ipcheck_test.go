package edge

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/protocols/testserver"
)

// TestIPEquipmentAlarmsInFleet: an ATM watched by TCP connect goes down;
// the fleet raises device_unreachable for it, and clears it when the ATM
// answers again.
func TestIPEquipmentAlarmsInFleet(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	serve := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go serve(ln)
	cfg := parseEdge(t, dataDir(t), f.Addrs().MQTT, fmt.Sprintf(`
ipcheck:
  devices:
    - {id: postamat1, kind: atm, check: tcp, address: "%s", interval: 1s, timeout: 500ms}
`, addr))
	startEdge(t, cfg)
	alarm := func() (alarms.Alarm, bool) {
		o, _ := f.Office(testOffice)
		for _, a := range o.OpenAlarms {
			if a.Device == "postamat1" && a.Kind == "device_unreachable" {
				return a, true
			}
		}
		return alarms.Alarm{}, false
	}
	waitFor(t, 30*time.Second, "the ATM ok in the fleet", func() bool { o, _ := f.Office(testOffice); return o.Devices["postamat1"] == "ok" })
	ln.Close()
	waitFor(t, 30*time.Second, "the fleet alarm for the ATM", func() bool { a, ok := alarm(); return ok && a.Active })
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	go serve(ln2)
	waitFor(t, 30*time.Second, "the alarm cleared", func() bool { a, ok := alarm(); return ok && !a.Active && a.ClearedBy == "auto" })
}
