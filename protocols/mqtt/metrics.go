package mqtt

import (
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/polis-edge/polis/protocols/promtext"
)

// stats counts refusals per device (or per broker username for clients
// that are no device) and reason, for metrics.
type stats struct {
	mu       sync.Mutex
	rejected map[[2]string]uint64
}

func newStats() *stats { return &stats{rejected: map[[2]string]uint64{}} }

func (st *stats) reject(device, reason string) {
	st.mu.Lock()
	st.rejected[[2]string{device, reason}]++
	st.mu.Unlock()
}

func (st *stats) snapshot() map[[2]string]uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[[2]string]uint64, len(st.rejected))
	for k, v := range st.rejected {
		out[k] = v
	}
	return out
}

// Rejected returns refusals by device and reason ("" device: traffic no
// configured device owns, e.g. unknown usernames or topics).
func (s *Service) Rejected() map[[2]string]uint64 { return s.stats.snapshot() }

// WriteMetrics writes Prometheus text: device state, messages, samples and
// refusals per device and reason.
func (s *Service) WriteMetrics(w io.Writer) error {
	p := promtext.New(w)
	s.Metrics(p)
	return p.Flush()
}

// Metrics adds the service's metrics to p (the edge's /metrics page).
func (s *Service) Metrics(p *promtext.Writer) {
	devs := s.Devices()
	for _, d := range devs {
		up := 0.0
		if d.State == "ok" {
			up = 1
		}
		p.Gauge("polis_mqtt_device_up", "1 if the MQTT device is online and sending valid data", up, "device", d.ID, "kind", d.Kind)
	}
	for _, d := range devs {
		p.Counter("polis_mqtt_messages_total", "messages received per device", float64(d.Counters["messages"]), "device", d.ID)
	}
	for _, d := range devs {
		p.Counter("polis_mqtt_samples_total", "samples buffered per device", float64(d.Counters["samples"]), "device", d.ID)
	}
	snap := s.stats.snapshot()
	keys := make([][2]string, 0, len(snap))
	for k := range snap {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	for _, k := range keys {
		p.Counter("polis_mqtt_rejected_total", "messages or fields refused, by device and reason", float64(snap[k]), "device", k[0], "reason", k[1])
	}
}
