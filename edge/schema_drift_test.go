package edge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/simoffice"
	"github.com/polis-edge/polis/protocols/testserver"
)

// TestSchemaDocCoversWhatDriversEmit runs a whole simulated office (SunSpec
// inverter and meter over Modbus TCP, MQTT sensors and a locker bank, OCPP
// chargers) through a real edge and a real fleet into InfluxDB, then asks
// InfluxDB which measurements, tag keys and field keys it holds. Every one
// of them must be documented in docs/influxdb-schema.md for its measurement:
// the doc is the analysts' interface, and this catches the code drifting
// away from it (hand-written points could not).
func TestSchemaDocCoversWhatDriversEmit(t *testing.T) {
	doc, err := os.ReadFile("../docs/influxdb-schema.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := parseSchemaDoc(string(doc))
	in := testserver.Influx(t)
	f := startFleet(t, in, "")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := simoffice.Start(ctx, simoffice.Config{ID: testOffice, Name: "Schema office"})
	if err != nil {
		t.Fatal(err)
	}
	dir := dataDir(t)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "edge.yaml")
	yaml := sim.EdgeYAML(f.Addrs().MQTT, testPassword, "127.0.0.1:0", "127.0.0.1:0")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startEdge(t, cfg)
	// The office broker binds in its driver's goroutine, after ready: on a
	// loaded machine (CI, -race) its address was still nil here once.
	waitFor(t, 10*time.Second, "the office broker to listen", func() bool { return d.MQTT().Addr() != nil })
	mqttAddr := d.MQTT().Addr().String()
	go func() { _ = sim.RunSensors(ctx, "tcp://"+mqttAddr, quietLog()) }()
	go func() { _ = sim.RunChargers(ctx, "ws://"+d.OCPP().Addr().String()+"/ocpp", quietLog()) }()

	// What every office emits within seconds; rarer kinds (alarms, sessions)
	// are checked whenever they happen to appear.
	want := []string{"pv", "grid", "env", "evse", "events", "polis_edge", "locker"}
	waitFor(t, 90*time.Second, "the simulated office's data in InfluxDB", func() bool {
		have := map[string]bool{}
		for _, m := range showValues(t, in, "SHOW MEASUREMENTS") {
			have[m] = true
		}
		for _, m := range want {
			if !have[m] {
				return false
			}
		}
		return true
	})

	var missing []string
	for _, m := range showValues(t, in, "SHOW MEASUREMENTS") {
		names, ok := documented[m]
		if !ok {
			missing = append(missing, fmt.Sprintf("measurement %s", m))
			continue
		}
		for _, k := range showValues(t, in, fmt.Sprintf("SHOW TAG KEYS FROM %q", m)) {
			if !names.has(k) && !documented[""].has(k) {
				missing = append(missing, fmt.Sprintf("%s tag %s", m, k))
			}
		}
		for _, k := range showValues(t, in, fmt.Sprintf("SHOW FIELD KEYS FROM %q", m)) {
			if !names.has(k) {
				missing = append(missing, fmt.Sprintf("%s field %s", m, k))
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Fatalf("emitted but not in docs/influxdb-schema.md:\n  %s", strings.Join(missing, "\n  "))
	}
}

// showValues returns the first column of a SHOW query's rows.
func showValues(t *testing.T, in *testserver.InfluxDB, q string) []string {
	t.Helper()
	series, err := in.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range series {
		for _, row := range s.Values {
			if v, ok := row[0].(string); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// docNames is what the doc names in a measurement's sections: exact names
// and patterns (`dropped_<reason>`, ranges `x_l1_v` … `x_l3_v`).
type docNames struct {
	exact    map[string]bool
	patterns []*regexp.Regexp
}

func (n docNames) has(k string) bool {
	if n.exact[k] {
		return true
	}
	for _, p := range n.patterns {
		if p.MatchString(k) {
			return true
		}
	}
	return false
}

var (
	h2Re      = regexp.MustCompile("(?m)^## .*$")
	ownerRe   = regexp.MustCompile("(?m)^#{2,4} [^\n`]*`([a-z_]+)`")
	rowOwner  = regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|")
	tokenRe   = regexp.MustCompile(`[a-z][a-z0-9_]*(?:<[a-z_]+>[a-z0-9_]*)?`)
	patternRe = regexp.MustCompile(`<[a-z_]+>`)
)

// parseSchemaDoc maps each measurement to the names its part of the doc
// mentions. The doc is split at its level-2 headings (one per driver or
// component); a measurement belongs to a part when a heading in it starts
// with the measurement in backticks or a table row of a "measurement" table
// names it. Every name in that part counts as documented for it (fields,
// tags, event extras); "Tags on every point" holds the "" entry, valid for
// all. Patterns like dropped_<reason> match any reason, and a range
// x_l1_y … x_l3_y names x_l2_y too.
func parseSchemaDoc(doc string) map[string]docNames {
	out := map[string]docNames{}
	locs := h2Re.FindAllStringIndex(doc, -1)
	for i, loc := range locs {
		end := len(doc)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		part := doc[loc[0]:end]
		var owners []string
		if strings.Contains(doc[loc[0]:loc[1]], "Tags on every point") {
			owners = append(owners, "")
		}
		for _, m := range ownerRe.FindAllStringSubmatch(part, -1) {
			owners = append(owners, m[1])
		}
		for _, table := range strings.Split(part, "\n\n") {
			if strings.Contains(table, "\n| measurement |") {
				for _, m := range rowOwner.FindAllStringSubmatch(table, -1) {
					owners = append(owners, m[1])
				}
			}
		}
		tokens := tokenRe.FindAllString(part, -1)
		for _, m := range owners {
			n, ok := out[m]
			if !ok {
				n = docNames{exact: map[string]bool{}}
			}
			for _, tok := range tokens {
				if patternRe.MatchString(tok) {
					n.patterns = append(n.patterns, regexp.MustCompile("^"+patternRe.ReplaceAllString(tok, "[a-z0-9_]+")+"$"))
					continue
				}
				n.exact[tok] = true
				if strings.Contains(tok, "_l1") {
					n.exact[strings.Replace(tok, "_l1", "_l2", 1)] = true
				}
			}
			out[m] = n
		}
	}
	return out
}
