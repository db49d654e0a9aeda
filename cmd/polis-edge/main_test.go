package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/buffer"
	"github.com/polis-edge/polis/protocols/testserver"
)

func TestValidateAndVersion(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("office: {id: '47011'}\nuplink: {enabled: false}\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("office: {id: '47011'}\nuplink: {window: 0}\nbuffer: {max_bytes: 1KiB}\n"), 0o600)
	cases := []struct {
		args       []string
		code       int
		out, err   string
		errMissing string
	}{
		{args: []string{"version"}, code: 0, out: "polis-edge dev"},
		{args: []string{"validate", "-config", good}, code: 0, out: "ok (office 47011)"},
		{args: []string{"validate", "-config", bad}, code: 1, err: "uplink.window"},
		{args: []string{"validate", "-config", bad}, code: 1, err: "buffer.max_bytes"},
		{args: []string{"validate", "-config", filepath.Join(dir, "missing.yaml")}, code: 1, err: "no such file"},
		{args: []string{"frobnicate"}, code: 2, err: "unknown command"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(c.args, &stdout, &stderr)
			if code != c.code || !strings.Contains(stdout.String(), c.out) || !strings.Contains(stderr.String(), c.err) {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
			}
		})
	}
}

// TestSignals runs the real binary: SIGHUP with a changed file applies the log
// level and lists the rest as restart_pending; SIGTERM exits 0 with the
// buffer closed cleanly.
func TestSignals(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "polis-edge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "edge.yaml")
	write := func(extra string) {
		cfg := fmt.Sprintf("office: {id: '47011'}\ndata_dir: data\nuplink: {enabled: false}\nhttp: {listen: '127.0.0.1:%d'}\n%s", port, extra)
		os.WriteFile(cfgPath, []byte(cfg), 0o600)
	}
	write("")
	cmd := exec.Command(bin, "-config", cfgPath)
	stderr := &testserver.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	status := func() (st struct {
		RestartPending []string `json:"restart_pending"`
	}, ok bool) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", port))
		if err != nil {
			return st, false
		}
		defer resp.Body.Close()
		return st, json.NewDecoder(resp.Body).Decode(&st) == nil
	}
	waitUntil(t, "the daemon to serve its API", func() bool { _, ok := status(); return ok })

	write("log: {level: debug}\nbuffer: {max_bytes: 64MiB}\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "restart_pending to list buffer", func() bool {
		st, _ := status()
		return len(st.RestartPending) == 1 && st.RestartPending[0] == "buffer"
	})

	write("uplink: {window: 0}\n") // invalid: must be refused, daemon keeps running
	cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "the invalid reload to be refused", func() bool { return strings.Contains(stderr.String(), "config rejected") })
	if _, ok := status(); !ok {
		t.Fatal("daemon died on an invalid reload")
	}

	switch killed, err := testserver.Terminate(cmd, 30*time.Second); {
	case killed:
		t.Fatal("no exit 30 s after SIGTERM")
	case err != nil:
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	b, err := buffer.Open(filepath.Join(dir, "data", "buffer.db"), buffer.Options{})
	if err != nil {
		t.Fatalf("buffer not closed cleanly: %v", err)
	}
	if b.Stats().Recovered != 0 {
		t.Fatal("buffer needed recovery after a graceful stop")
	}
	b.Close()
}

// waitUntil is the project's one wait helper (protocols/testserver).
var waitUntil = testserver.WaitFor
