package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/testserver"
)

// TestSystemdNotify runs the real binary under a fake systemd: READY=1 once
// the HTTP and MQTT listeners serve, WATCHDOG=1 pings from the supervision
// loop, STOPPING=1 on SIGTERM, then a clean exit.
func TestSystemdNotify(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "polis-fleet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sock := testserver.Notify(t)
	httpPort, _ := testserver.FreePort()
	mqttPort, _ := testserver.FreePort()
	cfgPath := filepath.Join(t.TempDir(), "fleet.yaml")
	os.WriteFile(cfgPath, fmt.Appendf(nil, "http: {listen: '127.0.0.1:%d'}\nbroker: {embedded: {tcp: '127.0.0.1:%d'}}\n"+
		"influx: {url: 'http://127.0.0.1:1'}\noffices:\n  - {id: '10001', password: x}\n", httpPort, mqttPort), 0o600)
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
	// The fleet re-executed itself with stack shrinking off (stacks.go) and
	// is still the process systemd started, so READY came from it.
	if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cmd.Process.Pid)); err != nil || !strings.Contains(string(env), "GODEBUG="+noStackShrink) {
		t.Errorf("the running fleet's environment lacks GODEBUG=%s (%v)", noStackShrink, err)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", httpPort))
	if err != nil {
		t.Fatalf("READY=1 sent but the HTTP API does not answer: %v", err)
	}
	resp.Body.Close()
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
