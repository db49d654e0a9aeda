package edge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/testserver"
)

// TestSchemaExampleQueriesRun runs every InfluxQL and Flux example of
// docs/influxdb-schema.md against a real InfluxDB holding points of the
// documented shape: an analyst who copies one must get rows, not an error.
func TestSchemaExampleQueriesRun(t *testing.T) {
	doc, err := os.ReadFile("../docs/influxdb-schema.md")
	if err != nil {
		t.Fatal(err)
	}
	in := testserver.Influx(t)
	writeSchemaPoints(t, in)

	sql := codeBlocks(string(doc), "sql")
	var statements []string
	for _, block := range sql {
		for _, line := range strings.Split(block, "\n") {
			line = strings.TrimSpace(line)
			switch {
			case line == "" || strings.HasPrefix(line, "--"):
			case strings.HasPrefix(line, "SELECT"):
				statements = append(statements, line)
			default: // continuation of the previous statement
				statements[len(statements)-1] += " " + line
			}
		}
	}
	if len(statements) < 5 {
		t.Fatalf("found only %d InfluxQL examples in the doc", len(statements))
	}
	for _, q := range statements {
		series, err := in.Query(q)
		if err != nil {
			t.Errorf("documented query fails: %v", err)
		} else if len(series) == 0 {
			t.Errorf("documented query returns nothing on documented data: %s", q)
		}
	}
	fluxes := codeBlocks(string(doc), "flux")
	if len(fluxes) == 0 {
		t.Fatal("no Flux examples in the doc")
	}
	for _, block := range fluxes {
		for _, q := range strings.Split(block, "\n\n") {
			if rows := fluxRows(t, in, q); rows == 0 {
				t.Errorf("documented Flux query returns nothing:\n%s", q)
			}
		}
	}
}

func codeBlocks(doc, lang string) []string {
	re := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		out = append(out, m[1])
	}
	return out
}

// writeSchemaPoints writes two days of hourly points as the edge and fleet
// would, with registry tags.
func writeSchemaPoints(t *testing.T, in *testserver.InfluxDB) {
	var b strings.Builder
	tags := `office=12054,region=Piemonte,province=CN,comune=Ostana`
	now := time.Now().Truncate(time.Hour)
	for h := 0; h < 48; h++ {
		ts := now.Add(-time.Duration(h) * time.Hour).UnixNano()
		fmt.Fprintf(&b, "pv,%s,device=inv1 ac_power_w=%d,energy_wh=%d %d\n", tags, 1000+h, 100000-h*500, ts)
		fmt.Fprintf(&b, "grid,%s,device=grid import_power_w=%d %d\n", tags, 3000+h, ts)
		fmt.Fprintf(&b, "env,%s,device=air-desk,room=desk co2_ppm=%d %d\n", tags, 600+h*40, ts)
		fmt.Fprintf(&b, "polis_edge,%s,device=edge oldest_age_s=%d %d\n", tags, h, ts)
	}
	fmt.Fprintf(&b, "polis_edge,%s,device=edge oldest_age_s=4200 %d\n", tags, time.Now().UnixNano())
	fmt.Fprintf(&b, "session,%s,device=CP-FLEET,connector=1,group=fleet state=\"stopped\",energy_wh=12000 %d\n", tags, now.UnixNano())
	fmt.Fprintf(&b, "events,%s,device=leak-wc,kind=water_leak message=\"water on the floor\",severity=\"critical\" %d\n", tags, now.UnixNano())
	resp, err := http.Post(in.URL+"/write?db=polis", "text/plain", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s %s", resp.Status, body)
	}
}

// fluxRows runs a Flux query through the /api/v2/query endpoint of 1.8 and
// counts the data rows of the CSV answer.
func fluxRows(t *testing.T, in *testserver.InfluxDB, q string) int {
	body, _ := json.Marshal(map[string]any{"query": q, "type": "flux"})
	req, _ := http.NewRequest("POST", in.URL+"/api/v2/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	csv, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Errorf("flux query fails: %s %s\n%s", resp.Status, csv, q)
		return -1
	}
	rows := 0
	for _, line := range strings.Split(string(csv), "\n") {
		// Data rows start with a comma (empty annotation column); the
		// header row is ",result,table,...".
		if strings.HasPrefix(line, ",") && !strings.HasPrefix(line, ",result,") {
			rows++
		}
	}
	return rows
}
