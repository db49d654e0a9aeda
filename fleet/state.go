package fleet

import (
	"context"
	"strings"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/state"
	"github.com/polis-edge/polis/fleet/users"
)

// openState opens the fleet's own store and the parts kept in it: users,
// audit trail, alarms with their webhooks. Standalone it is one bbolt file
// (data_dir/fleet.db); in nats mode it is the cluster's JetStream KV, shared
// by every fleet instance.
func (f *Fleet) openState() error {
	st, err := f.openStore()
	if err != nil {
		return err
	}
	f.store = st
	f.users = users.New(st)
	f.audit = audit.New(st, f.log)
	hookCtx, cancel := context.WithCancel(context.Background())
	f.stopHook = cancel
	f.webhooks = alarms.NewWebhooks(hookCtx, hooks(f.cfg.Webhooks), f.log)
	f.alarms, err = alarms.New(st, f.webhooks, f.log)
	if err != nil {
		f.closeState()
		return err
	}
	return nil
}

func (f *Fleet) openStore() (state.Store, error) {
	if n := f.cfg.Broker.NATS; f.cfg.Broker.Mode == "nats" {
		return state.OpenKV(strings.Join(n.URLs, ","), n.Username, n.Password, n.Replicas)
	}
	st, err := state.Open(f.cfg.DataDir)
	if err == nil && f.cfg.DataDir == "" {
		f.log.Warn("no data_dir: users, alarms and audit are kept in a temporary file and lost at exit", "file", st.Path())
	}
	return st, err
}

func hooks(list []config.Webhook) []alarms.Hook {
	var out []alarms.Hook
	for _, h := range list {
		scope := users.Scope{Region: h.Region, Provinces: h.Provinces}
		out = append(out, alarms.Hook{URL: h.URL, Secret: h.Secret,
			Allowed: func(p alarms.Place) bool { return scope.Allows(p.Region, p.Province) }})
	}
	return out
}

func (f *Fleet) closeState() {
	if f.stopHook != nil {
		f.stopHook()
	}
	if f.store != nil {
		if err := f.store.Close(); err != nil {
			f.log.Error("close state file", "err", err)
		}
	}
}

// Users is the fleet's user directory (the demo and tests create users here).
func (f *Fleet) Users() *users.Users { return f.users }

// StatePath is the state file (copy it with Backup while running); "" when
// the state lives in the cluster (nats mode).
func (f *Fleet) StatePath() string {
	if b, ok := f.store.(*state.Bolt); ok {
		return b.Path()
	}
	return ""
}

// housekeeping raises/clears office_offline and applies retention.
func (f *Fleet) housekeeping(ctx context.Context) {
	every := min(f.cfg.Alarms.OfflineAfter/4, 2*time.Second)
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	f.prune()
	lastPrune := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f.checkSilence(now)
			f.commands.Tick(now.UTC(), func(office string) bool {
				o, ok := f.reg.Office(office)
				return ok && o.Online
			})
			if now.Sub(lastPrune) > time.Hour {
				f.prune()
				lastPrune = now
			}
		}
	}
}

func (f *Fleet) checkSilence(now time.Time) {
	f.reg.Silence(now, f.cfg.Alarms.OfflineAfter, func(p alarms.Place, silent bool, since time.Duration) {
		if err := f.alarms.Silence(p, silent, since, now.UTC()); err != nil {
			f.log.Error("office_offline alarm", "office", p.Office, "err", err)
		}
	})
}

func (f *Fleet) prune() {
	n, err := f.audit.Prune(f.cfg.Retention.Audit)
	m, err2 := f.alarms.Prune(f.cfg.Retention.Alarms)
	s, err3 := f.users.PruneSessions(time.Now())
	c, err4 := f.commands.Prune(f.cfg.Retention.Commands)
	if err4 != nil {
		f.log.Error("retention: commands", "err", err4)
	}
	s += c
	if err != nil || err2 != nil || err3 != nil {
		f.log.Error("retention", "audit_err", err, "alarms_err", err2, "sessions_err", err3)
	}
	if n+m+s > 0 {
		f.log.Info("retention pruned old records", "audit", n, "alarms", m, "sessions", s)
	}
}
