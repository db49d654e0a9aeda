//go:build bench

package fleet

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/fleetsim"
	"github.com/polis-edge/polis/protocols/testserver"
)

// simProfile profiles this test process (the simulated offices) from the
// fleet's restart until the backlogs are drained, when
// POLIS_BENCH_SIM_PROFILE names a file: where the offices' share of the box
// goes in the drain. It returns the function that stops it.
func simProfile(t *testing.T) func() {
	path := os.Getenv("POLIS_BENCH_SIM_PROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// directLines renders the offices' lines over span (fleetsim.DirectLines) in
// 5,000-line chunks, under measurements of their own so they do not
// overwrite the fleet's rows.
func directLines(t *testing.T, sc fleetsim.Config, from time.Time, span time.Duration) ([]string, int) {
	all, count, err := fleetsim.DirectLines(sc, "direct_", from, span)
	if err != nil {
		t.Fatal(err)
	}
	var chunks []string
	for len(all) > 0 {
		end, n := 0, 0
		for end < len(all) && n < 5000 {
			i := bytes.IndexByte(all[end:], '\n')
			if i < 0 {
				end = len(all)
				break
			}
			end += i + 1
			n++
		}
		chunks, all = append(chunks, string(all[:end])), all[end:]
	}
	return chunks, count
}

// scaleRows counts the simulated offices' rows, by a field every point of
// the measurement has at both mixes (aggregated env points have no raw
// temperature_c).
func scaleRows(t *testing.T, in *testserver.InfluxDB) int {
	env := "temperature_c"
	if os.Getenv("POLIS_BENCH_MIX") == "aggregated" {
		env = "temperature_c_mean"
	}
	total := 0
	for m, f := range map[string]string{"inverter": "WH", "meter": "TotWhImp", "charger": "power_w", "env": env, "locker": "occupied"} {
		series, err := in.Query(fmt.Sprintf(`SELECT COUNT(%q) FROM %q`, f, m))
		if err != nil || len(series) == 0 || len(series[0].Values) == 0 {
			t.Fatalf("count %s: %v", m, err)
		}
		c, err := strconv.Atoi(fmt.Sprint(series[0].Values[0][1]))
		if err != nil {
			t.Fatalf("count %s: %v", m, err)
		}
		total += c
	}
	return total
}

// influxProfile saves 8 s of influxd's CPU profile (its /debug/pprof is on
// by default) when POLIS_BENCH_INFLUX_PROFILE names a path prefix.
func influxProfile(t *testing.T, url, side string) {
	prefix := os.Getenv("POLIS_BENCH_INFLUX_PROFILE")
	if prefix == "" {
		return
	}
	resp, err := http.Get(url + "/debug/pprof/profile?seconds=8")
	if err != nil {
		t.Logf("influxd profile: %v", err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(prefix+"-"+side+".prof", b, 0o644)
	}
	if err != nil {
		t.Logf("influxd profile: %v", err)
	}
}

// influxQuiet waits, up to a minute, for influxd to use under a tenth of a
// core over a second, before the fleet's restart and before the direct
// side: compacting what was written before would otherwise take CPU from
// either side's writes (the direct side ran 67,561–119,031 lines/s in seven
// runs before this wait).
func influxQuiet(t *testing.T, pid int) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		c0 := procCPU(t, pid)
		time.Sleep(time.Second)
		if procCPU(t, pid)-c0 < 0.1 {
			return
		}
	}
	t.Logf("influxd still busy after a minute")
}

// procCPU is the process's user+system CPU seconds so far.
func procCPU(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// procRSS is the process's resident memory in bytes.
func procRSS(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}

func toFloat(v any) float64 {
	f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
	return f
}
