package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/edge/buffer"
	"github.com/polis-edge/polis/protocols/testserver"
)

// TestUpgradeAndReloadLoseNothing runs the real binary with a sensor
// publishing QoS 1 all along, and does what the package does on upgrade
// (stop with SIGTERM, replace the binary, start) and a SIGHUP reload in
// between: every message the edge acknowledged is in the buffer at the end.
func TestUpgradeAndReloadLoseNothing(t *testing.T) {
	built := buildBinary(t)
	dir := t.TempDir()
	installed := filepath.Join(dir, "polis-edge")
	install := func() {
		b, err := os.ReadFile(built)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(installed) // like dpkg: a new inode, the old one may still run
		if err := os.WriteFile(installed, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	install()
	httpPort, _ := testserver.FreePort()
	mqttPort, _ := testserver.FreePort()
	cfgPath := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfgPath, fmt.Appendf(nil, `office: {id: '47011'}
data_dir: data
uplink: {enabled: false}
http: {listen: '127.0.0.1:%d'}
mqtt:
  listen: 127.0.0.1:%d
  devices: [{id: th-hall, password: s3cret-pw, preset: zigbee2mqtt, room: hall}]
`, httpPort, mqttPort), 0o600)

	start := func() (*exec.Cmd, *testserver.SyncBuffer) {
		sock := testserver.Notify(t)
		cmd := exec.Command(installed, "-config", cfgPath)
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock.Path)
		stderr := &testserver.SyncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if m := sock.Next(t, 60*time.Second); m != "READY=1" {
			t.Fatalf("got %q\n%s", m, stderr.String())
		}
		return cmd, stderr
	}
	stop := func(cmd *exec.Cmd, stderr *testserver.SyncBuffer) {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	}

	// The sensor: one value per message, retried until acknowledged.
	var mu sync.Mutex
	acked := map[string]bool{}
	var ackedN atomic.Int64
	quit := make(chan struct{})
	pubDone := make(chan struct{})
	opts := paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", mqttPort)).SetClientID("th-hall").
		SetUsername("th-hall").SetPassword("s3cret-pw").SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(200 * time.Millisecond)
	client := paho.NewClient(opts)
	daemon, stderr := start()
	client.Connect().Wait()
	go func() {
		defer close(pubDone)
		for i := 0; ; {
			select {
			case <-quit:
				return
			default:
			}
			v := fmt.Sprintf("%.3f", 20+float64(i)/1000)
			tok := client.Publish("zigbee2mqtt/th-hall", 1, false, `{"temperature":`+v+`}`)
			if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
				mu.Lock()
				acked[v] = true
				mu.Unlock()
				ackedN.Add(1)
				i++
			}
		}
	}()
	waitFor := func(n int64) {
		t.Helper()
		target := ackedN.Load() + n
		waitUntil(t, fmt.Sprintf("%d more acknowledged messages", n), func() bool { return ackedN.Load() >= target })
	}

	waitFor(50)
	daemon.Process.Signal(syscall.SIGHUP) // reload under load
	waitFor(50)
	stop(daemon, stderr) // package upgrade: prerm stops,
	install()            // dpkg replaces the binary,
	daemon, stderr = start()
	waitFor(50) // postinst starts; the sensor reconnects and goes on
	close(quit)
	<-pubDone
	client.Disconnect(100)
	stop(daemon, stderr)

	b, err := buffer.Open(filepath.Join(dir, "data", "buffer.db"), buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stored := map[string]bool{}
	re := regexp.MustCompile(`^env,.*device=th-hall.* temperature_c=([0-9.]+)`)
	b.Read(0, 1<<30, 1<<40, func(_ uint64, line []byte) error {
		if m := re.FindSubmatch(line); m != nil {
			stored[string(m[1])] = true
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	var lost []string
	for v := range acked {
		if !stored[v] && !stored[trimZeros(v)] {
			lost = append(lost, v)
		}
	}
	if len(acked) < 150 || len(lost) > 0 {
		t.Fatalf("%d acknowledged, %d stored, lost %d: %v", len(acked), len(stored), len(lost), lost)
	}
}

// trimZeros matches line protocol's shortest float form: 20.100 → 20.1, 20.000 → 20.
func trimZeros(v string) string {
	for len(v) > 0 && v[len(v)-1] == '0' {
		v = v[:len(v)-1]
	}
	if len(v) > 0 && v[len(v)-1] == '.' {
		v = v[:len(v)-1]
	}
	return v
}
