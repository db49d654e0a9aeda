package edge

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/testserver"
)

// BenchmarkIdleRSSFullBuffer starts a real polis-edge on a buffer of
// benchSamples (1,000,000) samples with the fleet unreachable, the state of
// an office waiting out an outage: the idle RSS target (≤ 40 MB) must hold
// with a full buffer too, and opening it must not read the whole file.
func BenchmarkIdleRSSFullBuffer(b *testing.B) {
	n := benchSamples()
	bin := buildEdge(b)
	dir := filepath.Join(b.TempDir(), "edge")
	fillBuffer(b, dir, n)
	st, _ := os.Stat(filepath.Join(dir, "buffer.db"))
	deadPort, err := testserver.FreePort() // nobody listens: the fleet is down
	if err != nil {
		b.Fatal(err)
	}
	httpPort, err := testserver.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	cfg := writeEdgeConfig(b, dir, fmt.Sprintf("127.0.0.1:%d", deadPort))
	data, _ := os.ReadFile(cfg)
	data = append(data, fmt.Sprintf("http: {listen: \"127.0.0.1:%d\"}\n", httpPort)...)
	data = []byte(replaceLine(string(data), "http: {listen: \"127.0.0.1:0\"}", ""))
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		b.Fatal(err)
	}
	// Cold start as after a reboot: drop the file from the page cache.
	_ = exec.Command("sh", "-c", "sync; echo 1 > /proc/sys/vm/drop_caches").Run()
	start := time.Now()
	cmd := exec.Command(bin, "-config", cfg)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/livez", httpPort)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(start) > time.Minute {
			b.Fatal("edge did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	started := time.Since(start)
	time.Sleep(10 * time.Second) // settle: the figure is the idle one
	r := readRSS(cmd.Process.Pid)
	b.Logf("%d samples (%d MB file): started in %s, idle RSS %s", n, st.Size()>>20, started.Round(time.Millisecond), r)
	b.ReportMetric(float64(r.total())/1024, "MB_rss_idle")
	b.ReportMetric(started.Seconds(), "s_start")
}

func replaceLine(s, old, repl string) string {
	out := ""
	for _, l := range splitLines(s) {
		if l == old {
			l = repl
		}
		out += l + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
