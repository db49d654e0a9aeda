package edge

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/polis-edge/polis/edge/buffer"
	"github.com/polis-edge/polis/edge/config"
	fleetconfig "github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/testserver"
)

const fixtureDir = "../testdata/upgrade/5d52593"

// copyFixture puts the previous release's files into a fresh data dir.
func copyFixture(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dir, 0o750)
	for _, f := range []string{"buffer.db", "state.db"} {
		b, err := os.ReadFile(filepath.Join(fixtureDir, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	return dir
}

// dump reads every key/value of every bucket, as bucket → key → value.
func dump(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]map[string]string{}
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			m := map[string]string{}
			b.ForEach(func(k, v []byte) error { m[string(k)] = string(v); return nil })
			out[string(name)] = m
			return nil
		})
	})
	return out
}

// fixtureConfig is the office of the fixture: its chargers and locker bank.
func fixtureConfig(t *testing.T, dir, mqttAddr string) config.Config {
	t.Helper()
	uplink := "{enabled: false}"
	if mqttAddr != "" {
		uplink = fmt.Sprintf("{url: 'tcp://%s', password: %s, reconnect_min: 100ms, backlog_rate: 0}", mqttAddr, testPassword)
	}
	cfg, err := config.Parse(fmt.Appendf(nil, `office: {id: "47011"}
data_dir: %s
uplink: %s
http: {listen: 127.0.0.1:0}
telemetry: {interval: 1h}
ocpp:
  listen: 127.0.0.1:0
  security_profile: 1
  chargers:
    - {id: CP-PUBLIC, password: "demo-charger-pass-16", connectors: 1}
    - {id: CP-FLEET, password: "demo-charger-pass-16", connectors: 1}
mqtt:
  listen: 127.0.0.1:0
  devices:
    - {id: bank1, kind: locker, password: demo}
`, dir, uplink))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestUpgradeFromPreviousReleaseKeepsEverything opens files written by the
// previous release (5d52593, before format versions) with this one: every
// unsent sample, every OCPP session and every locker audit record is still
// there after the new daemon ran, the files now carry a format version, and
// once an uplink is configured every old sample reaches the fleet.
func TestUpgradeFromPreviousReleaseKeepsEverything(t *testing.T) {
	dir := copyFixture(t)
	oldBuf, oldState := dump(t, filepath.Join(dir, "buffer.db")), dump(t, filepath.Join(dir, "state.db"))
	unsent := len(oldBuf["data"])
	if unsent == 0 || len(oldState["ocpp_sessions"]) == 0 || len(oldState["locker_audit"]) == 0 {
		t.Fatalf("fixture lacks data: %d samples, %d sessions, %d audit", unsent, len(oldState["ocpp_sessions"]), len(oldState["locker_audit"]))
	}

	d, stop := startEdge(t, fixtureConfig(t, dir, ""))
	if st := d.buf.Stats(); st.Count != int64(unsent) || st.Recovered != 0 {
		t.Fatalf("new daemon sees %d samples (recovered %d), the old file holds %d", st.Count, st.Recovered, unsent)
	}
	stop()

	newBuf, newState := dump(t, filepath.Join(dir, "buffer.db")), dump(t, filepath.Join(dir, "state.db"))
	for seq, line := range oldBuf["data"] {
		if newBuf["data"][seq] != line {
			t.Fatalf("sample %x changed or lost across the upgrade", seq)
		}
	}
	for _, bucket := range []string{"ocpp_sessions", "locker_audit", "locker_commands"} {
		for k, v := range oldState[bucket] {
			if newState[bucket][k] != v {
				t.Fatalf("%s %q changed or lost across the upgrade:\nold %s\nnew %s", bucket, k, v, newState[bucket][k])
			}
		}
	}
	if got := formatOf(newBuf["meta"]); got != buffer.BufferFormat {
		t.Fatalf("buffer format after upgrade: %d", got)
	}
	if got := formatOf(newState["polis_meta"]); got != buffer.StateFormat {
		t.Fatalf("state format after upgrade: %d", got)
	}

	// Deliver: a real fleet and InfluxDB take every sample of the old file.
	in := testserver.Influx(t)
	fl := startFleetWith(t, in, func(c *fleetconfig.Config) {
		c.Offices = []fleetconfig.Office{{ID: "47011", Password: testPassword}}
	})
	d, _ = startEdge(t, fixtureConfig(t, dir, fl.Addrs().MQTT))
	waitFor(t, 60*time.Second, "the old samples to be delivered", func() bool {
		return fl.Status().SamplesAccepted >= uint64(unsent) && d.buf.Stats().Count == 0
	})
	if st := fl.Status(); len(st.SamplesRejected) != 0 {
		t.Fatalf("fleet rejected old samples: %v", st.SamplesRejected)
	}
	if dr := d.buf.Stats().Dropped; len(dr) != 0 {
		t.Fatalf("edge dropped samples: %v", dr)
	}
}

func formatOf(meta map[string]string) uint64 {
	v := meta["format_version"]
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64([]byte(v))
}

// TestNewerFormatIsRefused: a file stamped by a newer release is refused
// with a message saying so, and left exactly as it was (not moved aside as
// corrupt, not rewritten).
func TestNewerFormatIsRefused(t *testing.T) {
	for _, c := range []struct{ file, bucket string }{{"buffer.db", "meta"}, {"state.db", "polis_meta"}} {
		t.Run(c.file, func(t *testing.T) {
			dir := copyFixture(t)
			path := filepath.Join(dir, c.file)
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error {
				b, _ := tx.CreateBucketIfNotExists([]byte(c.bucket))
				return b.Put([]byte("format_version"), binary.BigEndian.AppendUint64(nil, 99))
			})
			db.Close()
			before, _ := os.ReadFile(path)

			_, err = New(fixtureConfig(t, dir, ""), quietLog(), "test")
			if err == nil || !strings.Contains(err.Error(), "format version 99") || !strings.Contains(err.Error(), "newer release") {
				t.Fatalf("newer file not refused clearly: %v", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Fatal("the refused file was modified")
			}
			if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 {
				t.Fatalf("the newer file was moved aside as corrupt: %v", aside)
			}
		})
	}
}
