package history

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/testserver"
)

func write(t *testing.T, in *testserver.InfluxDB, lines []string) {
	t.Helper()
	u := in.URL + "/write?" + url.Values{"db": {in.DB}, "precision": {"ms"}, "u": {"polis"}, "p": {"polis"}}.Encode()
	resp, err := http.Post(u, "text/plain", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s", resp.Status)
	}
}

// TestTodayChartsAndSessions: real InfluxDB, lines as the fleet writes them
// (registry tags on every line): today's energy per region from the power
// integral, an office's 24 h chart, and finished sessions.
func TestTodayChartsAndSessions(t *testing.T) {
	in := testserver.Influx(t)
	now := time.Now()
	y, m, d := now.In(Rome).Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, Rome)
	start := now.Add(-90 * time.Minute)
	if start.Before(midnight) {
		start = midnight.Add(time.Minute)
		now = start.Add(90 * time.Minute) // the test's "now": 90 minutes of data after midnight
	}
	var lines []string
	// One hour at a constant 6 kW PV, 1 kW import, 7 kW charging: 6000/1000/7000 Wh.
	for i := 0; i <= 60; i++ {
		ts := start.Add(time.Duration(i) * time.Minute).UnixMilli()
		tags := ",office=30001,region=Basilicata,province=PZ"
		lines = append(lines,
			fmt.Sprintf("pv,device=inv1%s ac_power_w=6000 %d", tags, ts),
			fmt.Sprintf("pv,device=inv1,string=1%s dc_power_w=3000 %d", tags, ts),
			fmt.Sprintf("grid,device=m1%s import_power_w=1000,export_power_w=0 %d", tags, ts),
			fmt.Sprintf("evse,device=CP01,connector=1%s power_w=7000 %d", tags, ts),
			fmt.Sprintf("env,device=s1%s temperature_c=21.5,co2_ppm=600 %d", tags, ts),
			fmt.Sprintf("pv,device=inv9,office=10001,region=Lazio,province=RM ac_power_w=1000 %d", ts))
	}
	stop := start.Add(time.Hour).UnixMilli()
	lines = append(lines,
		fmt.Sprintf(`session,device=CP01,connector=1,group=fleet,office=30001,region=Basilicata,province=PZ state="started",transaction_id="t1" %d`, start.UnixMilli()),
		fmt.Sprintf(`session,device=CP01,connector=1,group=fleet,office=30001,region=Basilicata,province=PZ state="stopped",transaction_id="t1",energy_wh=7000,duration_s=3600,stop_reason="EVDisconnected" %d`, stop))
	write(t, in, lines)

	c := New(config.Influx{URL: in.URL, Token: in.Token, Bucket: in.Bucket, Timeout: 10 * time.Second})
	today, err := c.Today(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	b := today["Basilicata"]
	near := func(got, want float64) bool { return got > want*0.99 && got < want*1.01 }
	if !near(b.PVWh, 6000) || !near(b.GridImportWh, 1000) || !near(b.EVWh, 7000) || b.Sessions != 1 || !near(today["Lazio"].PVWh, 1000) {
		t.Fatalf("today: %+v", today)
	}
	ch, err := c.OfficeChart(context.Background(), "30001", "24h", now)
	if err != nil {
		t.Fatal(err)
	}
	points := 0
	for i := range ch.Times {
		if p := ch.Series["pv_w"][i]; p != nil {
			points++
			if *p != 6000 || *ch.Series["ev_w"][i] != 7000 || *ch.Series["temperature_c"][i] != 21.5 {
				t.Fatalf("chart values at %d: pv %v ev %v", i, *p, ch.Series["ev_w"][i])
			}
		}
	}
	if points < 6 || len(ch.Times) != 24*6+1 {
		t.Fatalf("chart: %d buckets with PV of %d", points, len(ch.Times))
	}
	if _, err := c.OfficeChart(context.Background(), "30001", "1y", now); err == nil {
		t.Fatal("a span of 1y was accepted")
	}
	ss, err := c.Sessions(context.Background(), SessionQuery{Region: "Basilicata", From: now.Add(-24 * time.Hour), To: now})
	if err != nil || len(ss) != 1 || ss[0].EnergyWh != 7000 || ss[0].TransactionID != "t1" || ss[0].Office != "30001" {
		t.Fatalf("sessions: %+v %v", ss, err)
	}
	if ss, _ := c.Sessions(context.Background(), SessionQuery{Region: "Lazio", From: now.Add(-24 * time.Hour), To: now}); len(ss) != 0 {
		t.Fatalf("Lazio sessions: %+v", ss)
	}
}
