package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/testserver"
)

// TestSystemdNotify runs the real binary as systemd would run a Type=notify
// unit with WatchdogSec: READY=1 only once the API port answers, then
// WATCHDOG=1 pings, then STOPPING=1 on SIGTERM and a clean exit.
func TestSystemdNotify(t *testing.T) {
	bin := buildBinary(t)
	sock := testserver.Notify(t)
	dir := t.TempDir()
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfgPath, fmt.Appendf(nil, "office: {id: '47011'}\ndata_dir: data\nuplink: {enabled: false}\nhttp: {listen: '127.0.0.1:%d'}\n", port), 0o600)
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock.Path, "WATCHDOG_USEC=300000")
	stderr := &testserver.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	if m := sock.Next(t, 60*time.Second); m != "READY=1" {
		t.Fatalf("first message %q, want READY=1\n%s", m, stderr.String())
	}
	// Ready means serving: the listener is bound before READY is sent.
	if _, ok := getStatus(port); !ok {
		t.Fatal("READY=1 sent but the HTTP API does not answer")
	}
	for i := range 3 {
		if m := sock.Next(t, 60*time.Second); m != "WATCHDOG=1" {
			t.Fatalf("message %d after READY: %q, want WATCHDOG=1", i, m)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for {
		m := sock.Next(t, 60*time.Second)
		if m == "STOPPING=1" {
			break
		}
		if m != "WATCHDOG=1" {
			t.Fatalf("unexpected %q before STOPPING=1", m)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
}

func getStatus(port int) (int, bool) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", port))
	if err != nil {
		return 0, false
	}
	resp.Body.Close()
	return resp.StatusCode, resp.StatusCode == http.StatusOK
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "polis-edge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}
