package edge

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/polis-edge/polis/edge/config"
	wire "github.com/polis-edge/polis/protocols/uplink"
)

// Remote config from the fleet (retained on the office's config topic):
// validated with the same validator as the local file, applied where that is
// safe at run time (the rules; like SIGHUP), stored as
// <data_dir>/remote-config.yaml for the next start, and acked with the
// version and the sections that wait for a restart. A config that does not
// validate, is for another office, or changes the uplink is refused and the
// running config stays: a wrong uplink pushed remotely would cut the office
// off from the fleet that could fix it.

var (
	remoteConfigBucket = []byte("remote_config")
	remoteConfigKey    = []byte("last_ack")
)

// RemoteConfigFile is where an applied remote config is kept.
const RemoteConfigFile = "remote-config.yaml"

func (d *Daemon) onRemoteConfig(payload []byte, reply func([]byte) error) {
	go func() {
		ack := d.applyRemoteConfig(payload)
		b, _ := json.Marshal(ack)
		if err := reply(b); err != nil {
			d.log.Warn("config ack not sent", "version", ack.Version, "err", err)
		}
	}()
}

func (d *Daemon) applyRemoteConfig(payload []byte) wire.ConfigAck {
	var push wire.ConfigPush
	if err := json.Unmarshal(payload, &push); err != nil || push.Version <= 0 {
		return wire.ConfigAck{Version: push.Version, Status: wire.ConfigRefused, Reason: fmt.Sprintf("malformed config push: %v", err), Time: time.Now().UTC()}
	}
	d.remoteMu.Lock()
	defer d.remoteMu.Unlock()
	var last wire.ConfigAck
	d.state.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(remoteConfigBucket); b != nil {
			if v := b.Get(remoteConfigKey); v != nil {
				json.Unmarshal(v, &last)
			}
		}
		return nil
	})
	if push.Version <= last.Version {
		return last // a redelivery of the retained message: answered, not applied again
	}
	op := Operator{Name: "fleet:" + push.User, Role: "admin"}
	ack := wire.ConfigAck{Version: push.Version, Status: wire.ConfigRefused, Time: time.Now().UTC()}
	next, err := config.Parse([]byte(push.YAML))
	changed := config.Diff(d.cfg, next)
	switch {
	case err != nil:
		ack.Reason = err.Error()
	case next.Office.ID != d.cfg.Office.ID:
		ack.Reason = fmt.Sprintf("office.id is %q, this office is %q", next.Office.ID, d.cfg.Office.ID)
	case slices.Contains(changed, "uplink"):
		ack.Reason = "uplink settings are changed on site only: a wrong uplink would cut the office off"
	default:
		if err := writeFileAtomic(filepath.Join(d.cfg.DataDir, RemoteConfigFile), []byte(push.YAML)); err != nil {
			ack.Reason = "store: " + err.Error()
			break
		}
		restart := d.reloadRules(next, slices.DeleteFunc(changed, func(s string) bool { return s == "rules" }))
		d.mu.Lock()
		d.pending = restart
		d.mu.Unlock()
		ack.Status, ack.RestartNeeded = wire.ConfigApplied, restart
	}
	var aerr error
	if ack.Reason != "" {
		aerr = fmt.Errorf("%s", ack.Reason)
	}
	d.audit(op, "config_apply", fmt.Sprint("version ", push.Version), map[string]any{"restart_needed": ack.RestartNeeded}, ack.Status, aerr)
	b, _ := json.Marshal(ack)
	if err := d.state.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(remoteConfigBucket)
		if err != nil {
			return err
		}
		return bk.Put(remoteConfigKey, b)
	}); err != nil {
		d.log.Error("config ack not stored", "err", err)
	}
	return ack
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
