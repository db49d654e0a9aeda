package edge

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/polis-edge/polis/protocols/mqtt"
)

// /metrics is one valid exposition: with several devices and a driver's
// own metrics, each family appears once (the hand-written page repeated
// HELP/TYPE headers family by family per device, which Prometheus refuses).
func TestMetricsPageIsValidExposition(t *testing.T) {
	cfg := edgeConfig(t, dataDir(t), "")
	cfg.MQTT = &mqtt.Config{Listen: "127.0.0.1:0", Devices: []mqtt.Device{
		{ID: "th-hall", Password: "p", Preset: "zigbee2mqtt"},
		{ID: "th-wc", Password: "p", Preset: "zigbee2mqtt"},
	}}
	cfg.MQTT.ApplyDefaults()
	d, _ := startEdge(t, cfg)
	appendSamples(t, d, 0, 10)
	resp, err := http.Get("http://" + d.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page strings.Builder
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(readAll(t, resp, &page)))
	if err != nil {
		t.Fatalf("invalid exposition: %v\n%s", err, page.String())
	}
	for name, n := range map[string]int{"polis_edge_device_ok": 2, "polis_mqtt_device_up": 2, "polis_edge_driver_up": 1} {
		if got := len(fams[name].GetMetric()); got != n {
			t.Errorf("%s: %d series, want %d", name, got, n)
		}
	}
	if v := fams["polis_edge_buffer_samples"].GetMetric()[0].GetGauge().GetValue(); v != 10 {
		t.Errorf("polis_edge_buffer_samples = %v", v)
	}
}

func readAll(t *testing.T, resp *http.Response, b *strings.Builder) string {
	t.Helper()
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
