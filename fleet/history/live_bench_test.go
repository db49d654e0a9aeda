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

// BenchmarkOfficeLive: one office page's live values (OfficeLive, every
// statement in one request) in a database holding 100 or 7,000 offices,
// each with an inverter, a meter, two charger connectors with sessions and
// allocation, a sensor and a locker bank; the office asked about has a week
// of one-minute readings. The ratio between the two sizes shows whether the
// cost grows with the fleet. Data is written before the timer starts.
func BenchmarkOfficeLive(b *testing.B) {
	for _, n := range []int{100, 7000} {
		b.Run(fmt.Sprintf("offices=%d", n), func(b *testing.B) {
			in := testserver.Influx(b)
			now := time.Now().Truncate(time.Minute)
			var lines []string
			flush := func() {
				u := in.URL + "/write?" + url.Values{"db": {in.DB}, "precision": {"ms"}, "u": {"polis"}, "p": {"polis"}}.Encode()
				resp, err := http.Post(u, "text/plain", strings.NewReader(strings.Join(lines, "\n")))
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					b.Fatalf("write: %s", resp.Status)
				}
				lines = lines[:0]
			}
			add := func(office string, ts time.Time) {
				tags := ",office=" + office + ",region=R,province=P"
				t := ts.UnixMilli()
				lines = append(lines,
					fmt.Sprintf("pv,device=inv1%s ac_power_w=4000,limit_pct=100,state=\"mppt\" %d", tags, t),
					fmt.Sprintf("grid,device=m1%s power_w=500,import_power_w=500,export_power_w=0 %d", tags, t),
					fmt.Sprintf("evse,device=CP01,connector=1%s status=\"Charging\",power_w=7000,offered_a=16,session_energy_wh=100 %d", tags, t),
					fmt.Sprintf("evse,device=CP01,connector=2%s status=\"Available\",power_w=0 %d", tags, t),
					fmt.Sprintf("rules,device=CP01,connector=1%s limit_a=16,reason=\"ok\",mode=\"now\" %d", tags, t),
					fmt.Sprintf("rules,device=rules%s budget_w=11000,band=\"F1\" %d", tags, t),
					fmt.Sprintf("env,device=s1%s temperature_c=21,co2_ppm=600,humidity_pct=40 %d", tags, t),
					fmt.Sprintf("locker,device=locker1%s online=true,occupied=3i,empty=37i %d", tags, t),
					fmt.Sprintf("session,device=CP01,connector=1,group=fleet%s state=\"started\",transaction_id=\"t1\" %d", tags, t))
				if len(lines) >= 5000 {
					flush()
				}
			}
			for i := range n {
				for k := range 3 {
					add(fmt.Sprintf("%05d", 10000+i), now.Add(-time.Duration(k)*time.Minute))
				}
			}
			for m := 7 * 24 * 60; m >= 0; m-- {
				add("99999", now.Add(-time.Duration(m)*time.Minute))
			}
			flush()
			c := New(config.Influx{URL: in.URL, Token: in.Token, Bucket: in.Bucket, Timeout: time.Minute})
			live, err := c.OfficeLive(context.Background(), "99999", now, now)
			if err != nil || len(live.Rows) != 6 || live.Rules == nil {
				b.Fatalf("live: %v, %d rows", err, len(live.Rows))
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.OfficeLive(context.Background(), "99999", now, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
