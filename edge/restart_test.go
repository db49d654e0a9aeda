package edge

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/polis-edge/polis/protocols/mqtt"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/testserver"
)

func getReady(t *testing.T, d *Daemon) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + d.HTTPAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getStatus(t *testing.T, d *Daemon) Status {
	t.Helper()
	resp, err := http.Get("http://" + d.HTTPAddr() + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// A driver that fails at run time (its port taken by another process) is
// reported by /readyz and the status, and restarted with back-off until it
// runs: once the port is free the office is ready and the broker serves.
func TestFailedDriverIsReportedAndRestarted(t *testing.T) {
	squatter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	cfg := edgeConfig(t, dataDir(t), "")
	cfg.MQTT = &mqtt.Config{Listen: squatter.Addr().String(),
		Devices: []mqtt.Device{{ID: "th-hall", Password: "p", Preset: "zigbee2mqtt"}}}
	cfg.MQTT.ApplyDefaults()
	d, _ := startEdge(t, cfg)

	testserver.WaitFor(t, "mqtt driver reported failed", func() bool {
		code, body := getReady(t, d)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "driver mqtt failed")
	})
	st := getStatus(t, d)
	if len(st.Drivers) != 1 || st.Drivers[0].Name != "mqtt" || !strings.Contains(st.Drivers[0].LastError, "address already in use") {
		t.Fatalf("status drivers = %+v", st.Drivers)
	}
	squatter.Close()
	testserver.WaitFor(t, "mqtt driver restarted and ready", func() bool {
		code, _ := getReady(t, d)
		return code == http.StatusOK
	})
	testserver.WaitFor(t, "broker accepting connections", func() bool {
		c, err := net.Dial("tcp", cfg.MQTT.Listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if st := getStatus(t, d); st.Drivers[0].Restarts < 1 || st.Drivers[0].State != DriverRunning {
		t.Errorf("after restart: %+v", st.Drivers[0])
	}
}

// A failed New releases what it opened: the OCPP listener (bound in
// ocpp.New) must be free again when a later step (here the HTTP port) fails.
func TestFailedNewClosesTheOCPPListener(t *testing.T) {
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ocppAddr := "127.0.0.1:" + strconv.Itoa(port)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := edgeConfig(t, dataDir(t), "")
	cfg.HTTP.Listen = taken.Addr().String()
	oc := ocpp.Config{Listen: ocppAddr, SecurityProfile: ocpp.Profile(0)}
	oc.ApplyDefaults()
	cfg.OCPP = &oc
	if _, err := New(cfg, quietLog(), "test"); err == nil || !strings.Contains(err.Error(), "http listen") {
		t.Fatalf("New = %v, want the http listen failure", err)
	}
	ln, err := net.Listen("tcp", ocppAddr)
	if err != nil {
		t.Fatalf("OCPP port still bound after the failed New: %v", err)
	}
	ln.Close()
}
