package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/polis-edge/polis/edge/config"
	wire "github.com/polis-edge/polis/protocols/uplink"
)

// Remote config from the fleet (retained on the office's config topic):
// validated with the same validator as the local file and refused if it is
// for another office, moves the data_dir or disables the uplink. A config
// that changes only the rules is applied at once (like SIGHUP) and acked;
// one that changes anything else is stored as <data_dir>/remote-config.yaml,
// put on trial and applied by building the daemon again (Serve), which then
// answers the redelivered push with the stored ack. A trial that cannot
// reach the fleet within uplink.config_grace is rolled back
// (remotestate.go).

var (
	remoteConfigBucket = []byte("remote_config")
	remoteConfigKey    = []byte("last_ack")
)

// RemoteConfigFile is where the remote config in force is kept.
const RemoteConfigFile = "remote-config.yaml"

func (d *Daemon) onRemoteConfig(payload []byte, reply func([]byte) error) {
	go func() {
		ack, restart := d.applyRemoteConfig(payload)
		if restart {
			d.requestRestart() // the daemon built again answers the redelivered push
			return
		}
		b, _ := json.Marshal(ack)
		if err := reply(b); err != nil {
			d.log.Warn("config ack not sent", "version", ack.Version, "err", err)
		}
	}()
}

// applyRemoteConfig applies a push; restart says the daemon must be built
// again for it to take effect.
func (d *Daemon) applyRemoteConfig(payload []byte) (ack wire.ConfigAck, restart bool) {
	var push wire.ConfigPush
	if err := json.Unmarshal(payload, &push); err != nil || push.Version <= 0 {
		return wire.ConfigAck{Version: push.Version, Status: wire.ConfigRefused, Reason: fmt.Sprintf("malformed config push: %v", err), Time: time.Now().UTC()}, false
	}
	d.remoteMu.Lock()
	defer d.remoteMu.Unlock()
	// The push came over the uplink: the config in force reaches the fleet.
	d.confirmTrial()
	now := time.Now().UTC()
	ack = wire.ConfigAck{Version: push.Version, Status: wire.ConfigRefused, Running: d.remoteState().Running, Time: now}
	_, last, err := readRemote(d.state)
	if err != nil {
		ack.Reason = "state.db: " + err.Error()
		return ack, false
	}
	if push.Version <= last.Version {
		return last, false // a redelivery of the retained message: answered, not applied again
	}
	prev := d.remoteState()
	next, err := config.Parse([]byte(push.YAML))
	if err == nil {
		err = remoteAllowed(d.site, next)
	}
	var changed []string
	if err == nil {
		changed = d.restartSections(next)
	}
	switch {
	case err != nil:
		ack.Reason = err.Error()
	case len(changed) == 0:
		err = d.applyHot(push, next)
	default:
		err = d.applyByRestart(push, next, changed)
		restart = err == nil
	}
	if err != nil && ack.Reason == "" {
		ack.Reason = err.Error()
	}
	if err == nil {
		ack.Status, ack.RestartNeeded, ack.Running = wire.ConfigApplied, changed, push.Version
	}
	d.audit(Operator{Name: "fleet:" + push.User, Role: "admin"}, "config_apply", fmt.Sprint("version ", push.Version),
		map[string]any{"restart": changed}, ack.Status, err)
	if err := writeRemote(d.state, d.remoteState(), &ack); err != nil {
		d.log.Error("config ack not stored", "err", err)
		if restart { // the next start would not know which file is which: stay
			restart = false
			d.setRemote(prev)
			if rerr := restoreRunning(d.cfg.DataDir, prev.Running); rerr != nil {
				d.log.Error("remote config file not restored", "err", rerr)
			}
		}
	}
	return ack, restart
}

// restartSections are the sections of next that differ from the running
// config and cannot change at run time.
func (d *Daemon) restartSections(next config.Config) []string {
	changed := config.Diff(d.cfg, next)
	if d.cfg.Log.Format != next.Log.Format || (d.cfg.Log.Level != next.Log.Level && d.level == nil) {
		changed = append(changed, "log") // the level alone is hot when the daemon holds it
	}
	if (d.rules == nil) != (next.RulesConfig() == nil) {
		changed = append(changed, "rules") // the runner is built once
	}
	return changed
}

// applyHot applies a config that changes only the rules and the log level:
// in force at once, and good at once (it cannot cut the link). remoteMu held.
func (d *Daemon) applyHot(push wire.ConfigPush, next config.Config) error {
	dir := d.cfg.DataDir
	for _, f := range []string{RemoteConfigFile, GoodConfigFile} {
		if err := writeFileAtomic(filepath.Join(dir, f), []byte(push.YAML)); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	rs := RemoteConfigState{Running: push.Version, Good: push.Version, Applied: time.Now().UTC()}
	if err := writeRemote(d.state, rs, nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	d.setRemote(rs)
	if d.level != nil {
		d.level.Set(next.SlogLevel())
	}
	d.sink.agg.SetRules(next.Aggregate) // run-time too (config.Diff leaves it out)
	if rc := next.RulesConfig(); rc != nil && d.rules != nil {
		if err := d.setRules(*rc); err != nil {
			// Parse validated the rules: not expected; the next start runs them.
			d.log.Error("remote config: rules rejected at run time", "version", push.Version, "err", err)
		}
	}
	return nil
}

// applyByRestart stores next as the config on trial; the caller restarts
// the daemon. remoteMu held.
func (d *Daemon) applyByRestart(push wire.ConfigPush, next config.Config, changed []string) error {
	if err := writeFileAtomic(filepath.Join(d.cfg.DataDir, RemoteConfigFile), []byte(push.YAML)); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	now := time.Now().UTC()
	rs := RemoteConfigState{Running: push.Version, Trial: true, Deadline: now.Add(next.Uplink.TrialGrace()),
		Good: d.remoteState().Good, Restart: changed, Applied: now}
	d.setRemote(rs)
	d.log.Info("remote config on trial: restarting the daemon to apply it", "version", push.Version,
		"sections", changed, "grace", next.Uplink.TrialGrace())
	return nil
}

// restoreRunning puts the file of the version in force back after a failed
// apply: the good file's copy, or none for the local file.
func restoreRunning(dir string, running int64) error {
	cur := filepath.Join(dir, RemoteConfigFile)
	if running == 0 {
		if err := os.Remove(cur); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return copyFileAtomic(filepath.Join(dir, GoodConfigFile), cur)
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
