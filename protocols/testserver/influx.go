// Package testserver starts real servers (InfluxDB, …) for tests and the demo.
// Tests talk to the real thing over sockets, never to a mock.
package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InfluxDB is a running InfluxDB 1.8 with a database "polis" (retention policy autogen).
type InfluxDB struct {
	URL    string // http://127.0.0.1:<port>
	Token  string // "user:pass" form accepted by the 1.8 /api/v2/write compatibility endpoint
	Bucket string // "polis/autogen"
	Org    string // unused by 1.8
	DB     string // "polis"

	bin, dir, conf string
	log            io.Writer

	proc process
}

// FindInfluxd locates the influxd binary: $POLIS_INFLUXD, <module root>/.tools/bin/influxd, PATH.
func FindInfluxd() (string, error) { return FindTool("influxd", "POLIS_INFLUXD") }

// FindTool locates a server binary the project builds into .tools/bin (see
// the Makefile's tools target): $env, <module root>/.tools/bin/name, PATH.
func FindTool(name, env string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", env, p, err)
		}
		return p, nil
	}
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, ".tools", "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found: run `make tools`", name)
	}
	return p, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found")
		}
		dir = parent
	}
}

// FreePort returns a TCP port that was free a moment ago on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreePorts returns n distinct TCP ports that were free a moment ago: all are
// held open until the last is found, so the kernel cannot hand one out twice.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Influx starts an InfluxDB in a temporary directory for the test; it stops at cleanup.
// Its log is shown only when the test fails.
func Influx(t testing.TB) *InfluxDB {
	t.Helper()
	var log SyncBuffer
	in, err := StartInflux(t.TempDir(), &log)
	if err != nil {
		t.Fatalf("start influxd: %v\n%s", err, log.String())
	}
	t.Cleanup(func() {
		in.Stop()
		if t.Failed() {
			t.Logf("influxd log:\n%s", log.String())
		}
	})
	return in
}

// StartInflux writes a config into dir and starts influxd with it, waiting
// until it answers /ping and the polis database exists.
func StartInflux(dir string, log io.Writer) (*InfluxDB, error) {
	bin, err := FindInfluxd()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	in := &InfluxDB{Token: "polis:polis", Bucket: "polis/autogen", DB: "polis",
		bin: bin, dir: dir, conf: filepath.Join(dir, "influxdb.conf"), log: log}
	// A port found free can be taken before influxd binds it (by another
	// test's server, or as the ephemeral port of a client connection when a
	// test opens thousands): influxd then exits at once, and a new pair of
	// ports is tried.
	for attempt := 1; ; attempt++ {
		ports, err := FreePorts(2)
		if err != nil {
			return nil, err
		}
		in.URL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
		if err := os.WriteFile(in.conf, []byte(influxConfig(dir, ports[0], ports[1])), 0o644); err != nil {
			return nil, fmt.Errorf("write influxd config: %w", err)
		}
		err = in.start()
		if err == nil {
			break
		}
		if !errors.Is(err, errExitedDuringStart) || attempt == 5 {
			return nil, err
		}
	}
	if _, err := in.Query("CREATE DATABASE polis"); err != nil {
		in.Stop()
		return nil, fmt.Errorf("create database: %w", err)
	}
	return in, nil
}

func influxConfig(dir string, httpPort, rpcPort int) string {
	return fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"

[meta]
  dir = %q

[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:%d"
  auth-enabled = false
  flux-enabled = true
  log-enabled = false

[logging]
  level = "warn"
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort)
}

var errExitedDuringStart = errors.New("influxd exited during start (see its log)")

func (in *InfluxDB) start() error {
	done, err := in.proc.start(in.log, in.bin, "run", "-config", in.conf)
	if err != nil {
		return err
	}

	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errExitedDuringStart
		case <-time.After(50 * time.Millisecond):
		}
		if in.Ping() == nil {
			return nil
		}
	}
	in.Kill()
	return errors.New("influxd did not answer /ping within 60s")
}

// Ping reports whether InfluxDB answers /ping.
func (in *InfluxDB) Ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.URL+"/ping", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("ping: %s", resp.Status)
	}
	return nil
}

// Stop shuts InfluxDB down gracefully (SIGTERM, then SIGKILL after 15 s).
func (in *InfluxDB) Stop() { in.proc.signal(syscall.SIGTERM, 15*time.Second) }

// Kill ends InfluxDB at once, as a crash would.
func (in *InfluxDB) Kill() { in.proc.signal(syscall.SIGKILL, 15*time.Second) }

// Restart starts InfluxDB again on the same port and data directory.
func (in *InfluxDB) Restart() error {
	in.Stop()
	return in.start()
}

// Series is one series of a query result.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs InfluxQL against the polis database (epoch=ns) and returns the
// series of the first statement.
func (in *InfluxDB) Query(q string) ([]Series, error) {
	form := url.Values{"q": {q}, "db": {in.DB}, "epoch": {"ns"}}
	resp, err := http.PostForm(in.URL+"/query", form)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	var out struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("query %q: %s: %w", q, resp.Status, err)
	}
	if out.Error != "" {
		return nil, fmt.Errorf("query %q: %s", q, out.Error)
	}
	if len(out.Results) == 0 {
		return nil, nil
	}
	if out.Results[0].Error != "" {
		return nil, fmt.Errorf("query %q: %s", q, out.Results[0].Error)
	}
	return out.Results[0].Series, nil
}

// Count returns the number of points (rows) of measurement matching where
// (an InfluxQL condition, or "" for all). It reads the rows, so it is exact
// whatever fields each point carries; use it for test-sized data.
func (in *InfluxDB) Count(measurement, where string) (int, error) {
	q := fmt.Sprintf("SELECT * FROM %q", measurement)
	if where != "" {
		q += " WHERE " + where
	}
	series, err := in.Query(q)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range series {
		n += len(s.Values)
	}
	return n, nil
}

// SyncBuffer collects output written by other goroutines (a child process's
// copier, a server's logger) for a test to read or show on failure. It keeps
// the first MiB: the start of a log is what explains a failure.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // keep the log bounded; the start of it is what explains a failure
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Pid is influxd's process id (0 when stopped), for benchmarks that report
// where the CPU goes.
func (in *InfluxDB) Pid() int { return in.proc.pid() }
