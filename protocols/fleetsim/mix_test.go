package fleetsim

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// TestDirectLinesMatchWhatTheFleetStores: the direct side of the fleet
// benchmarks writes the offices' own series with the tags the registry
// gives them, or its ratio compares unequal work.
func TestDirectLinesMatchWhatTheFleetStores(t *testing.T) {
	cfg := Config{Offices: 3}
	cfg.defaults()
	var reg bytes.Buffer
	if err := WriteRegistry(&reg, cfg); err != nil {
		t.Fatal(err)
	}
	out, n, err := DirectLines(cfg, "direct_", time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	// A minute of the reference mix: 60 inverter and 60 meter lines, 6 of
	// each charger, 2 of each of the 12 sensors, 1 locker line per office.
	if want := 3 * (60 + 60 + 6 + 6 + 24 + 1); len(lines) != n || n != want {
		t.Fatalf("%d lines (said %d), want %d", len(lines), n, want)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		s, err := sample.ParseLine([]byte(l))
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if !strings.HasPrefix(s.Measurement, "direct_") {
			t.Fatalf("%q: measurement not prefixed", l)
		}
		seen[strings.TrimPrefix(s.Measurement, "direct_")] = true
		entry := ""
		for _, e := range strings.Split(reg.String(), "\n") {
			if strings.Contains(e, `id: "`+s.Tags[sample.TagOffice]+`"`) {
				entry = e
			}
		}
		for _, k := range []string{"comune", "istat", "province", "region"} {
			if s.Tags[k] == "" || !strings.Contains(entry, s.Tags[k]) {
				t.Fatalf("%q: tag %s=%q is not the registry's (%s)", l, k, s.Tags[k], entry)
			}
		}
	}
	for _, s := range cfg.Mix {
		if !seen[s.Measurement] {
			t.Errorf("no %s lines in a minute of %d lines", s.Measurement, len(lines))
		}
	}
}
