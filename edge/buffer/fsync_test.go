package buffer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.etcd.io/bbolt"

	"github.com/polis-edge/polis/edge/buffer"
	"github.com/polis-edge/polis/protocols/mqtt"
)

// A kill -9 cannot catch a missing fsync: the page cache survives the
// process. A power cut would not. This test watches the page cache itself:
// cachestat(2) (Linux 6.5+) reports how many of the buffer file's pages are
// dirty, i.e. written but not yet on the disk. When a device gets its MQTT
// PUBACK, the sample it sent must already be on the disk, so the file must
// have no dirty page at that moment.
//
// The same test runs with bbolt's NoSync and must then see dirty pages at
// most PUBACKs: that proves it can fail, and it is what a missing fsync in
// the buffer would look like.
func TestNoPubackBeforeTheFsyncThatCoversIt(t *testing.T) {
	const n = 20
	t.Run("fsync", func(t *testing.T) {
		if dirty := pubacksBeforeSync(t, false, n); dirty > 2 {
			t.Fatalf("%d of %d PUBACKs left while the sample's pages were not on disk", dirty, n)
		}
	})
	t.Run("nosync_is_detected", func(t *testing.T) {
		dirty := pubacksBeforeSync(t, true, n)
		t.Logf("fsync disabled: %d of %d PUBACKs saw dirty pages", dirty, n)
		if dirty < n/2 {
			t.Fatalf("with fsync disabled only %d of %d PUBACKs saw dirty pages: the test cannot catch a missing fsync", dirty, n)
		}
	})
}

// pubacksBeforeSync publishes n QoS 1 sensor readings through the real MQTT
// service into a real buffer and counts the PUBACKs that arrived while the
// buffer file still had dirty pages.
func pubacksBeforeSync(t *testing.T, noSync bool, n int) int {
	dir := diskDir(t)
	path := filepath.Join(dir, "buffer.db")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	buf, err := buffer.Open(path, buffer.Options{NoSync: noSync, CommitInterval: 5 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = buf.Close() })
	state, err := bbolt.Open(filepath.Join(dir, "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = state.Close() })
	svc, err := mqtt.New(mqtt.Config{Listen: "127.0.0.1:0",
		Devices: []mqtt.Device{{ID: "th-hall", Password: "th-pass", Preset: "zigbee2mqtt", Room: "hall"}}}, state, buf, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for svc.Addr() == nil || svc.Addr().String() == "127.0.0.1:0" {
		if time.Now().After(deadline) {
			t.Fatal("broker did not bind")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + svc.Addr().String()).
		SetClientID("th-hall").SetUsername("th-hall").SetPassword("th-pass").SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dirty := 0
	for i := range n {
		before := buf.Stats().Appended
		payload := fmt.Sprintf(`{"temperature":%d.5,"humidity":40,"linkquality":90}`, 15+i)
		tok := c.Publish("zigbee2mqtt/th-hall", 1, false, payload)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
		// The PUBACK is here: count what the page cache holds unwritten.
		nd := dirtyPages(t, f)
		if buf.Stats().Appended == before {
			t.Fatalf("publish %d was acknowledged but nothing was stored", i)
		}
		if nd > 0 {
			dirty++
		}
	}
	return dirty
}

// dirtyPages returns the number of dirty page-cache pages of f's file.
func dirtyPages(t *testing.T, f *os.File) uint64 {
	t.Helper()
	var rng struct{ off, len uint64 } // len 0: to the end of the file
	var cs struct{ cache, dirty, writeback, evicted, recentlyEvicted uint64 }
	const sysCachestat = 451 // same number on every architecture
	_, _, errno := syscall.Syscall6(sysCachestat, f.Fd(), uintptr(unsafe.Pointer(&rng)), uintptr(unsafe.Pointer(&cs)), 0, 0, 0)
	if errno == syscall.ENOSYS {
		t.Skip("cachestat(2) needs Linux 6.5 or later")
	}
	if errno != 0 {
		t.Fatalf("cachestat: %v", errno)
	}
	return cs.dirty
}

// diskDir is a test directory on a disk-backed filesystem: on tmpfs every
// page stays "dirty" forever and fsync means nothing.
func diskDir(t *testing.T) string {
	dir := t.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil && st.Type == 0x01021994 { // TMPFS_MAGIC
		d, err := os.MkdirTemp(".", "fsync-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(d) })
		return d
	}
	return dir
}
