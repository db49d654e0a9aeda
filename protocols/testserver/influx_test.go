package testserver

import (
	"net/http"
	"strings"
	"testing"
)

func write(t *testing.T, in *InfluxDB, lines string) {
	t.Helper()
	resp, err := http.Post(in.URL+"/write?db=polis&precision=ns", "text/plain", strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s", resp.Status)
	}
}

func TestInfluxSurvivesKillAndRestart(t *testing.T) {
	in := Influx(t)
	write(t, in, "pv,office=1 W=1 1700000000000000000\npv,office=1 W=2 1700000000000000001\npv,office=2 W=3 1700000000000000000\n")
	n, err := in.Count("pv", "office='1'")
	if err != nil || n != 2 {
		t.Fatalf("count office 1 = %d, %v; want 2", n, err)
	}
	in.Kill()
	if in.Ping() == nil {
		t.Fatal("ping answered after Kill")
	}
	if err := in.Restart(); err != nil {
		t.Fatal(err)
	}
	// The WAL replays what was written before the crash.
	n, err = in.Count("pv", "")
	if err != nil || n != 3 {
		t.Fatalf("count after restart = %d, %v; want 3", n, err)
	}
	series, err := in.Query("SELECT W FROM pv WHERE office='2'")
	if err != nil || len(series) != 1 || series[0].Values[0][1].(interface{ String() string }).String() != "3" {
		t.Fatalf("query office 2: %+v %v", series, err)
	}
}
