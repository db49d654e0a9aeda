package influx_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/testserver"
)

// statements reads testdata/influx/retention.iql: blank-line separated
// statements, "--" comment lines dropped. docs/influxdb-retention.md shows
// the same file.
func statements(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/influx/retention.iql")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, block := range strings.Split(string(b), "\n\n") {
		var lines []string
		for _, l := range strings.Split(block, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--") {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			out = append(out, strings.Join(lines, " "))
		}
	}
	return out
}

func exec(t *testing.T, in *testserver.InfluxDB, q string) {
	t.Helper()
	resp, err := http.PostForm(in.URL+"/query", url.Values{"q": {q}, "db": {in.DB}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct{ Error string } `json:"results"`
		Error   string                   `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 || out.Error != "" || (len(out.Results) > 0 && out.Results[0].Error != "") {
		t.Fatalf("%s: %s %s %+v", q, resp.Status, out.Error, out.Results)
	}
}

// backfill turns a continuous query into the SELECT ... INTO an analyst
// runs for past data (and that the CQ itself runs every hour).
func backfill(cq string, from, to time.Time) string {
	sel := cq[strings.Index(cq, "BEGIN ")+len("BEGIN ") : strings.LastIndex(cq, " END")]
	where := fmt.Sprintf(" WHERE time >= '%s' AND time < '%s' GROUP BY", from.Format(time.RFC3339), to.Format(time.RFC3339))
	return strings.Replace(sel, " GROUP BY", where, 1)
}

// TestRetentionAndDownsampling runs the documented statements against a real
// InfluxDB 1.8.10: raw data expires after the configured time, and the
// hourly and daily energy rollups per office come out exact from the
// lifetime counters the offices send.
func TestRetentionAndDownsampling(t *testing.T) {
	in := testserver.Influx(t)
	stmts := statements(t)
	var cqs []string
	for _, s := range stmts {
		exec(t, in, s)
		if strings.HasPrefix(s, "CREATE CONTINUOUS QUERY") {
			cqs = append(cqs, s)
		}
	}
	if len(cqs) != 6 {
		t.Fatalf("%d continuous queries in the file", len(cqs))
	}
	rps, err := in.Query(`SHOW RETENTION POLICIES ON "polis"`)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(rps[0].Values)
	if !strings.Contains(got, "autogen 2160h0m0s 24h0m0s") || !strings.Contains(got, "forever 0s") {
		t.Fatalf("retention policies: %v", got)
	}

	// Two offices, two UTC days, a reading every 10 minutes: inverter
	// lifetime counter +100 Wh per reading (600 Wh/h), grid import +50 Wh.
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-3 * 24 * time.Hour)
	var lines []string
	for _, office := range []string{"47011", "47012"} {
		for i := 0; i <= 2*24*6; i++ {
			ts := day.Add(time.Duration(i) * 10 * time.Minute).UnixNano()
			lines = append(lines,
				fmt.Sprintf("pv,office=%s,device=inv1 energy_wh=%d,ac_power_w=3600 %d", office, 1_000_000+100*i, ts),
				fmt.Sprintf("grid,office=%s,device=grid import_energy_wh=%d,export_energy_wh=%d %d", office, 500_000+50*i, 7, ts),
				fmt.Sprintf("evse,office=%s,device=CP1,connector=1 energy_wh=%d %d", office, 20_000+10*i, ts))
		}
	}
	resp, err := http.Post(in.URL+"/write?db=polis&rp=autogen", "text/plain", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("write: %v %v", err, resp.Status)
	}
	resp.Body.Close()

	// Hourly first (the daily queries read the hourly rollups).
	for _, cq := range cqs {
		if strings.Contains(cq, "_1h\"") {
			exec(t, in, backfill(cq, day.Add(-time.Hour), day.Add(48*time.Hour)))
		}
	}
	for _, cq := range cqs {
		if strings.Contains(cq, "_1d\"") {
			exec(t, in, backfill(cq, day, day.Add(48*time.Hour)))
		}
	}

	check := func(q string, want []float64) {
		t.Helper()
		s, err := in.Query(q)
		if err != nil || len(s) == 0 {
			t.Fatalf("%s: %v %v", q, err, s)
		}
		var vals []float64
		for _, row := range s[0].Values {
			f, _ := row[1].(json.Number).Float64()
			vals = append(vals, f)
		}
		if fmt.Sprint(vals) != fmt.Sprint(want) {
			t.Fatalf("%s\n got %v\nwant %v", q, vals, want)
		}
	}
	hours := make([]float64, 47) // hour 0 has no previous hour to difference against
	for i := range hours {
		hours[i] = 600
	}
	check(`SELECT energy_wh FROM "forever"."pv_1h" WHERE office='47011'`, hours)
	check(`SELECT sum(energy_wh) FROM "forever"."pv_1d" WHERE office='47012' GROUP BY time(1d) fill(none)`, []float64{23 * 600, 24 * 600})
	check(`SELECT import_energy_wh FROM "forever"."grid_1d" WHERE office='47011'`, []float64{23 * 300, 24 * 300})
	check(`SELECT export_energy_wh FROM "forever"."grid_1d" WHERE office='47011'`, []float64{0, 0})
	check(`SELECT energy_wh FROM "forever"."evse_1d" WHERE office='47011' AND connector='1'`, []float64{23 * 60, 24 * 60})
	// Per office across devices, as the dashboard would ask.
	check(`SELECT sum(energy_wh) FROM "forever"."pv_1d" WHERE time >= '`+day.Format(time.RFC3339)+`' GROUP BY time(1d) fill(none)`, []float64{2 * 23 * 600, 2 * 24 * 600})
}
