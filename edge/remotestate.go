package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/polis-edge/polis/edge/config"
	wire "github.com/polis-edge/polis/protocols/uplink"
)

// Which config is in force, and the rollback to the last good one. A config
// pushed by the fleet is on trial from the moment it is applied until the
// daemon, running it, hears from the fleet (its retained config push, or an
// ack for a batch): a wrong uplink URL or password, or a section that breaks
// the daemon, would otherwise cut the office off from the one place that
// could fix it. A trial not confirmed within
// uplink.config_grace (the trial config's own value) is rolled back to the
// last good config; the reason is kept as the retained ack, which the fleet
// receives as soon as the office is back in contact.
//
// Files in data_dir: remote-config.yaml is the version in force (absent: the
// local config file), remote-config.good.yaml the last confirmed one. The
// record below (state.db, bucket remote_config) says which is which.

var remoteStateKey = []byte("state")

// GoodConfigFile is the last remote config confirmed by fleet contact.
const GoodConfigFile = "remote-config.good.yaml"

// RemoteConfigState is which remote config version runs, and whether it is
// on trial (also in /api/v1/status as remote_config).
type RemoteConfigState struct {
	Running  int64     `json:"running"`            // version in force; 0: the local file
	Trial    bool      `json:"trial"`              // Running not yet confirmed by fleet contact
	Deadline time.Time `json:"deadline,omitzero"`  // trial: rolled back unless confirmed by then
	Good     int64     `json:"good"`               // last confirmed version; 0: the local file
	Restart  []string  `json:"restart,omitempty"`  // trial: the sections it restarted the daemon for
	Applied  time.Time `json:"applied,omitzero"`   // when Running was applied
	Rollback string    `json:"rollback,omitempty"` // why the last trial was rolled back, for the audit trail
}

func readRemote(db *bolt.DB) (rs RemoteConfigState, last wire.ConfigAck, err error) {
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(remoteConfigBucket)
		if b == nil {
			return nil
		}
		if v := b.Get(remoteStateKey); v != nil {
			if err := json.Unmarshal(v, &rs); err != nil {
				return fmt.Errorf("remote config state: %w", err)
			}
		}
		if v := b.Get(remoteConfigKey); v != nil {
			if err := json.Unmarshal(v, &last); err != nil {
				return fmt.Errorf("remote config ack: %w", err)
			}
		}
		return nil
	})
	return rs, last, err
}

// writeRemote stores the state and, when ack is not nil, the ack every
// redelivery of the retained push is answered with.
func writeRemote(db *bolt.DB, rs RemoteConfigState, ack *wire.ConfigAck) error {
	return db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(remoteConfigBucket)
		if err != nil {
			return err
		}
		v, _ := json.Marshal(rs)
		if err := b.Put(remoteStateKey, v); err != nil {
			return err
		}
		if ack == nil {
			return nil
		}
		v, _ = json.Marshal(ack)
		return b.Put(remoteConfigKey, v)
	})
}

// remoteConfig reads and validates a stored remote config: it must parse,
// be for this office and keep the data_dir (state.db and the buffer live
// there).
func remoteConfig(path string, site config.Config) (config.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return config.Config{}, err
	}
	cfg, err := config.Parse(b)
	if err != nil {
		return config.Config{}, err
	}
	return cfg, remoteAllowed(site, cfg)
}

// remoteAllowed refuses what a remote config may not change.
func remoteAllowed(site, next config.Config) error {
	switch {
	case next.Office.ID != site.Office.ID:
		return fmt.Errorf("office.id is %q, this office is %q", next.Office.ID, site.Office.ID)
	case next.DataDir != site.DataDir:
		return fmt.Errorf("data_dir is %q, this office keeps its buffer and state in %q: changed on site only", next.DataDir, site.DataDir)
	case !next.UplinkEnabled():
		return errors.New("uplink.enabled: false would cut the office off from the fleet")
	}
	return nil
}

// startConfig picks the config a starting daemon runs: the remote config in
// force if it is still readable and valid and, when on trial, still within
// its grace time; otherwise the last good one (rolled back, with the reason
// kept for the fleet); the local file when there is no remote config.
func startConfig(db *bolt.DB, site config.Config, log *slog.Logger) (config.Config, RemoteConfigState, error) {
	rs, _, err := readRemote(db)
	if err != nil {
		return site, rs, err
	}
	for rs.Running != 0 {
		var why string
		if rs.Trial && time.Now().After(rs.Deadline) {
			why = fmt.Sprintf("no contact with the fleet within uplink.config_grace of applying version %d (the daemon restarted meanwhile)", rs.Running)
		} else if cfg, err := remoteConfig(filepath.Join(site.DataDir, RemoteConfigFile), site); err == nil {
			return cfg, rs, nil
		} else if cfg, gerr := goodCopy(site, rs); gerr == nil {
			log.Error("remote config file unusable; using its last good copy", "version", rs.Running, "err", err)
			return cfg, rs, nil
		} else {
			why = fmt.Sprintf("stored version %d unusable: %v", rs.Running, err)
		}
		log.Error("remote config rolled back at start", "version", rs.Running, "to", rs.Good, "reason", why)
		if rs, err = rollback(db, site.DataDir, rs, why); err != nil {
			return site, rs, err
		}
	}
	return site, rs, nil
}

// goodCopy restores a confirmed version from its good copy (a damaged
// remote-config.yaml).
func goodCopy(site config.Config, rs RemoteConfigState) (config.Config, error) {
	if rs.Trial || rs.Running != rs.Good {
		return config.Config{}, errors.New("not the good version")
	}
	good := filepath.Join(site.DataDir, GoodConfigFile)
	cfg, err := remoteConfig(good, site)
	if err != nil {
		return cfg, err
	}
	return cfg, copyFileAtomic(good, filepath.Join(site.DataDir, RemoteConfigFile))
}

// rollback puts the last good config back in force and keeps why as the
// ack for the version given up. A good version whose file is unusable
// falls back to the local file.
func rollback(db *bolt.DB, dir string, rs RemoteConfigState, why string) (RemoteConfigState, error) {
	given := rs.Running
	next := RemoteConfigState{Running: rs.Good, Good: rs.Good, Applied: time.Now().UTC(), Rollback: fmt.Sprintf("version %d: %s", given, why)}
	cur := filepath.Join(dir, RemoteConfigFile)
	if rs.Good == given { // the good one itself is unusable
		next.Running, next.Good = 0, 0
	}
	if next.Running == 0 {
		if err := os.Remove(cur); err != nil && !errors.Is(err, os.ErrNotExist) {
			return rs, fmt.Errorf("roll back: %w", err)
		}
	} else if err := copyFileAtomic(filepath.Join(dir, GoodConfigFile), cur); err != nil {
		return rs, fmt.Errorf("roll back to version %d: %w", next.Running, err)
	}
	ack := wire.ConfigAck{Version: given, Status: wire.ConfigRolledBack, Reason: why + fmt.Sprintf("; rolled back to %s", versionName(next.Running)),
		Running: next.Running, Time: time.Now().UTC()}
	if err := writeRemote(db, next, &ack); err != nil {
		return rs, fmt.Errorf("roll back: %w", err)
	}
	return next, nil
}

func versionName(v int64) string {
	if v == 0 {
		return "the local config file"
	}
	return fmt.Sprintf("version %d", v)
}

func copyFileAtomic(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return writeFileAtomic(to, b)
}

// watchTrial confirms the config on trial once the daemon running it has
// heard from the fleet, or rolls it back and restarts the daemon when the
// grace time passes first.
func (d *Daemon) watchTrial(ctx context.Context) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		connected, why := false, fmt.Sprintf("no contact with the fleet within %s of applying it", d.cfg.Uplink.TrialGrace())
		if d.up != nil {
			us := d.up.Stats()
			// An ack from the fleet's ingest, not a bare connection: a
			// wrong URL may still reach some broker that takes the login.
			// The fleet's retained push, redelivered on subscription,
			// confirms too (applyRemoteConfig).
			connected = !us.LastAck.IsZero()
			if us.LastError != "" {
				why += " (last uplink error: " + us.LastError + ")"
			}
		}
		d.remoteMu.Lock()
		rs := d.remoteState()
		switch {
		case !rs.Trial:
			d.remoteMu.Unlock()
			return nil
		case connected:
			d.confirmTrial()
			d.remoteMu.Unlock()
			return nil
		case time.Now().Before(rs.Deadline):
			d.remoteMu.Unlock()
			continue
		}
		next, err := rollback(d.state, d.cfg.DataDir, rs, why)
		if err == nil {
			d.setRemote(next)
		}
		d.remoteMu.Unlock()
		if err != nil {
			d.log.Error("remote config rollback failed", "version", rs.Running, "err", err)
			return nil
		}
		d.log.Error("remote config rolled back; restarting with the last good one", "version", rs.Running, "to", next.Running, "reason", why)
		d.requestRestart() // the restarted daemon audits the rollback
		return nil
	}
}

// fleetAdmin is who config changes are audited as when the fleet's user is
// not known (rollbacks, confirmations).
var fleetAdmin = Operator{Name: "edge", Role: "admin"}

// confirmTrial makes the config on trial the last good one; remoteMu held.
func (d *Daemon) confirmTrial() {
	rs := d.remoteState()
	if !rs.Trial {
		return
	}
	dir := d.cfg.DataDir
	if err := copyFileAtomic(filepath.Join(dir, RemoteConfigFile), filepath.Join(dir, GoodConfigFile)); err != nil {
		d.log.Error("remote config not confirmed", "version", rs.Running, "err", err)
		return
	}
	rs.Trial, rs.Good, rs.Deadline = false, rs.Running, time.Time{}
	if err := writeRemote(d.state, rs, nil); err != nil {
		d.log.Error("remote config not confirmed", "version", rs.Running, "err", err)
		return
	}
	d.setRemote(rs)
	d.log.Info("remote config confirmed: the fleet is reachable with it", "version", rs.Running)
	d.audit(fleetAdmin, "config_confirmed", fmt.Sprint("version ", rs.Running), nil, wire.ConfigApplied, nil)
}

// auditRollback puts a rollback done since the last start in the audit
// trail (the state.db record holds it until then).
func (d *Daemon) auditRollback() {
	rs := d.remoteState()
	if rs.Rollback == "" {
		return
	}
	d.audit(fleetAdmin, "config_rollback", versionName(rs.Running), nil, wire.ConfigRolledBack, errors.New(rs.Rollback))
	rs.Rollback = ""
	d.setRemote(rs)
	if err := writeRemote(d.state, rs, nil); err != nil {
		d.log.Error("remote config state not stored", "err", err)
	}
}

func (d *Daemon) remoteState() RemoteConfigState {
	if rs := d.remote.Load(); rs != nil {
		return *rs
	}
	return RemoteConfigState{}
}

// setRemote publishes rs; writers hold remoteMu.
func (d *Daemon) setRemote(rs RemoteConfigState) { d.remote.Store(&rs) }

// requestRestart makes Run stop and return ErrRestart (Serve builds the
// daemon again from the config now in force).
func (d *Daemon) requestRestart() {
	select {
	case d.restart <- struct{}{}:
	default:
	}
}
