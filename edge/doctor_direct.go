package edge

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/modbus"
)

// checkPorts: every address the daemon will listen on must be free now, or
// the daemon fails to start (another service, or a second polis-edge).
func checkPorts(cfg config.Config) []Check {
	var addrs []struct{ key, addr string }
	add := func(key, addr string) {
		if addr != "" {
			addrs = append(addrs, struct{ key, addr string }{key, addr})
		}
	}
	add("http.listen", cfg.HTTP.Listen)
	if cfg.OCPP != nil {
		add("ocpp.listen", cfg.OCPP.Listen)
	}
	if cfg.MQTT != nil && cfg.MQTT.Mode != "external" {
		add("mqtt.listen", cfg.MQTT.Listen)
	}
	var checks []Check
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			checks = append(checks, Check{"port " + a.key, CheckFail, fmt.Sprintf("%s cannot be bound: %v", a.addr, err)})
			continue
		}
		ln.Close()
		checks = append(checks, Check{"port " + a.key, CheckOK, a.addr + " is free"})
	}
	return checks
}

// devicesDirect checks devices without the daemon: Modbus devices are read
// once as `probe modbus` would; chargers and MQTT devices connect to the
// daemon, so they are skipped with a note to start it and rerun.
func devicesDirect(ctx context.Context, cfg config.Config, timeout time.Duration) []Check {
	var checks []Check
	if m := cfg.Modbus; m != nil {
		buses := map[string]modbus.BusConfig{}
		for _, b := range m.Buses {
			buses[b.ID] = b
		}
		for _, d := range m.Devices {
			b := buses[d.Bus]
			res, err := modbus.Probe(ctx, modbus.ProbeOptions{URL: b.URL, Unit: d.Unit, Template: d.Template, Timeout: timeout, Baud: b.Baud})
			switch {
			case err != nil:
				checks = append(checks, Check{"device modbus/" + d.ID, CheckFail, fmt.Sprintf("%s unit %d: %v", b.URL, d.Unit, err)})
			case len(res.Points) == 0:
				checks = append(checks, Check{"device modbus/" + d.ID, CheckFail, fmt.Sprintf("%s unit %d answered but gave no values", b.URL, d.Unit)})
			default:
				checks = append(checks, Check{"device modbus/" + d.ID, CheckOK, fmt.Sprintf("%s unit %d answered, %d values", b.URL, d.Unit, len(res.Points))})
			}
		}
	}
	for _, id := range configured(cfg) {
		if id[:7] != "modbus/" {
			checks = append(checks, Check{"device " + id, CheckSkip, "connects to polis-edge: start the daemon and run doctor again"})
		}
	}
	return checks
}
