// Package fleet is polis-fleet, the central service: it takes telemetry
// batches from every office over MQTT, writes them to InfluxDB, answers each
// batch with an ack, tracks office health and alarms and serves the HTTP API
// and dashboard. New binds every socket so tests and the demo can run it
// in-process on ":0" and read the bound addresses before Run.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/broker"
	"github.com/polis-edge/polis/fleet/commands"
	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/history"
	"github.com/polis-edge/polis/fleet/httpapi"
	"github.com/polis-edge/polis/fleet/influx"
	"github.com/polis-edge/polis/fleet/ingest"
	"github.com/polis-edge/polis/fleet/registry"
	"github.com/polis-edge/polis/fleet/remoteconfig"
	"github.com/polis-edge/polis/fleet/state"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/uplink"
)

// Version is set at build time (-ldflags "-X github.com/polis-edge/polis/fleet.Version=...").
var Version = "dev"

// Addrs are the addresses the fleet actually listens on ("" when disabled).
type Addrs struct {
	HTTP    string
	MQTT    string // embedded broker, plain TCP
	MQTTTLS string // embedded broker, TLS
}

// Fleet is one polis-fleet instance.
type Fleet struct {
	cfg      config.Config
	log      *slog.Logger
	started  time.Time
	bus      broker.Bus
	embedded *broker.Embedded // nil in external mode
	external *broker.External
	influx   *influx.Writer
	ingest   *ingest.Ingester
	reg      *registry.Registry
	metrics  *metrics
	httpLn   net.Listener
	httpSrv  *http.Server
	api      *httpapi.API

	// The fleet's own durable state (see fleet/state).
	store    state.Store // bbolt file, or JetStream KV in nats mode
	users    *users.Users
	audit    *audit.Log
	alarms   *alarms.Manager
	commands *commands.Commands
	configs  *remoteconfig.Configs
	webhooks *alarms.Webhooks
	stopHook context.CancelFunc

	queue    chan job
	stopping chan struct{}
	influxUp influxState

	mu  sync.Mutex
	ran bool
	lc  Lifecycle // systemd notifications (supervise.go)
}

type job struct {
	office  string
	payload []byte
	done    func() // tells the broker the batch is handled (JetStream ack)
}

// New validates cfg, binds the HTTP and (embedded) MQTT listeners and wires
// the parts. Nothing is served until Run.
func New(cfg config.Config, log *slog.Logger) (*Fleet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	f := &Fleet{
		cfg:      cfg,
		log:      log,
		metrics:  newMetrics(),
		queue:    make(chan job, cfg.Ingest.Queue),
		stopping: make(chan struct{}),
		// Set here, not in Run: callers read Status while another
		// goroutine is still entering Run.
		started: time.Now(),
	}
	if err := f.openState(); err != nil {
		return nil, err
	}
	f.reg = registry.New(cfg.Offices, cfg.Alarms.Keep, f.alarms)
	f.influx = influx.New(cfg.Influx, cfg.Ingest.Workers)
	f.ingest = ingest.New(f.influx, f.reg.Tags)
	f.ingest.ClockTolerance = cfg.Ingest.ClockTolerance
	var err error
	switch cfg.Broker.Mode {
	case "embedded":
		f.embedded, err = broker.NewEmbedded(cfg.Broker.Embedded, cfg.Offices, log)
		f.bus = f.embedded
	case "nats":
		var n *broker.NATS
		if n, err = broker.NewNATS(cfg.Broker.External, cfg.Broker.NATS, log); err == nil {
			f.external, f.bus = n.External, n
		}
	default:
		f.external, err = broker.NewExternal(cfg.Broker.External, log)
		f.bus = f.external
	}
	if err != nil {
		f.influx.Close()
		f.closeState()
		return nil, err
	}
	if f.commands, err = commands.New(f.store, f.bus, 10*time.Second, log); err != nil {
		f.bus.Close()
		f.influx.Close()
		f.closeState()
		return nil, fmt.Errorf("load commands: %w", err)
	}
	f.configs = remoteconfig.New(f.store, f.bus, log)
	f.httpLn, err = net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		f.bus.Close()
		f.influx.Close()
		f.closeState()
		return nil, fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	f.api = httpapi.New(httpapi.Deps{Source: f, Users: f.users, Audit: f.audit, Alarms: f.alarms, Commands: f.commands, History: history.New(cfg.Influx), Backup: f.store.Backup,
		Configs: f.configs},
		httpapi.Options{SessionTTL: cfg.HTTP.SessionTTL, TLS: cfg.HTTP.TLS.Cert != "", MaxBody: cfg.HTTP.MaxBody,
			LoginPerMinute: cfg.HTTP.LoginPerMinute}, log)
	f.httpSrv = &http.Server{Handler: f.api, ReadHeaderTimeout: 10 * time.Second}
	return f, nil
}

// Addrs returns the bound addresses.
func (f *Fleet) Addrs() Addrs {
	a := Addrs{HTTP: f.httpLn.Addr().String()}
	if f.embedded != nil {
		a.MQTT, a.MQTTTLS = f.embedded.TCPAddr(), f.embedded.TLSAddr()
	}
	return a
}

// Run serves until ctx is done, then shuts down: it stops taking batches,
// finishes those in flight (unacked ones are resent by the offices), closes
// the broker and the HTTP server.
func (f *Fleet) Run(ctx context.Context) error {
	f.mu.Lock()
	if f.ran {
		f.mu.Unlock()
		return errors.New("fleet: Run called twice")
	}
	f.ran = true
	f.mu.Unlock()

	httpErr := make(chan error, 1)
	go func() {
		if t := f.cfg.HTTP.TLS; t.Cert != "" {
			httpErr <- f.httpSrv.ServeTLS(f.httpLn, t.Cert, t.Key)
			return
		}
		httpErr <- f.httpSrv.Serve(f.httpLn)
	}()

	var workers sync.WaitGroup
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	for range f.cfg.Ingest.Workers {
		workers.Add(1)
		go func() { defer workers.Done(); f.worker(workCtx) }()
	}
	err := f.bus.Subscribe(uplink.Wildcard(uplink.KindCmdResult), func(topic string, payload []byte) {
		if office, kind, ok := uplink.SplitTopic(topic); ok && kind == uplink.KindCmdResult {
			// One small state write; results are rare.
			if rec, ok := f.commands.Result(office, payload); ok {
				f.auditEdge(office, rec.User, "command_result", rec.ID, map[string]any{"action": rec.Action, "device": rec.Device}, rec.Status, rec.Reason)
			}
		}
	})
	if err == nil {
		err = f.bus.Subscribe(uplink.Wildcard(uplink.KindConfigApplied), func(topic string, payload []byte) {
			if office, kind, ok := uplink.SplitTopic(topic); ok && kind == uplink.KindConfigApplied {
				if a, changed := f.configs.Ack(office, payload); changed {
					f.auditEdge(office, "edge", "config_ack", fmt.Sprint("version ", a.Version), map[string]any{"running": a.Running, "restart_needed": a.RestartNeeded}, a.Status, a.Reason)
				}
			}
		})
	}
	if err == nil {
		err = f.startBus()
	}
	if err != nil {
		close(f.stopping)
		workers.Wait()
		f.shutdownHTTP()
		f.influx.Close()
		f.closeState()
		return err
	}
	telemetryDone := make(chan struct{})
	go func() { defer close(telemetryDone); f.telemetry(ctx) }()
	housekeepingDone := make(chan struct{})
	go func() { defer close(housekeepingDone); f.housekeeping(ctx) }()
	f.log.Info("polis-fleet running", "version", Version, "http", f.Addrs().HTTP, "mqtt", f.Addrs().MQTT,
		"mqtt_tls", f.Addrs().MQTTTLS, "broker", f.cfg.Broker.Mode, "influx", f.cfg.Influx.URL, "offices", len(f.cfg.Offices))
	f.lifecycle().Ready()
	go f.supervise(ctx)

	select {
	case <-ctx.Done():
	case err = <-httpErr:
		err = fmt.Errorf("http server: %w", err)
	}
	f.lifecycle().Stopping()
	f.log.Info("polis-fleet stopping")
	close(f.stopping)
	drained := make(chan struct{})
	go func() { workers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(f.cfg.Influx.Timeout + 5*time.Second):
		cancelWork()
		<-drained
	}
	<-telemetryDone
	<-housekeepingDone
	f.bus.Close()
	f.shutdownHTTP()
	f.influx.Close()
	f.closeState()
	f.log.Info("polis-fleet stopped")
	return err
}

func (f *Fleet) shutdownHTTP() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f.httpSrv.Shutdown(ctx)
}

// Reload applies a new configuration. The office list (credentials and
// registry metadata) is applied live; other changes are logged as needing a
// restart.
func (f *Fleet) Reload(cfg config.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	f.reg.SetOffices(cfg.Offices)
	if f.embedded != nil {
		f.embedded.SetOffices(cfg.Offices)
	}
	// f.cfg is what runs; it never changes, so a change stays reported until a restart.
	for _, k := range restartKeys(f.cfg, cfg) {
		f.log.Warn("config change needs a restart to take effect", "key", k)
	}
	f.log.Info("config reloaded", "offices", len(cfg.Offices))
	return nil
}

func restartKeys(a, b config.Config) []string {
	var keys []string
	diff := func(key string, same bool) {
		if !same {
			keys = append(keys, key)
		}
	}
	diff("instance", a.Instance == b.Instance)
	diff("log", a.Log == b.Log)
	diff("http", a.HTTP == b.HTTP)
	diff("broker", reflect.DeepEqual(a.Broker, b.Broker))
	diff("influx", a.Influx == b.Influx)
	diff("ingest", a.Ingest == b.Ingest)
	diff("alarms", a.Alarms == b.Alarms)
	diff("data_dir", a.DataDir == b.DataDir)
	diff("retention", a.Retention == b.Retention)
	diff("webhooks", reflect.DeepEqual(a.Webhooks, b.Webhooks))
	diff("telemetry_interval", a.TelemetryInterval == b.TelemetryInterval)
	return keys
}

// auditEdge puts an office's answer (a command result, a config outcome) in
// the audit trail beside the request that caused it.
func (f *Fleet) auditEdge(office, user, action, target string, params any, result, reason string) {
	e := audit.Entry{User: user, Action: action, Target: target, Office: office, Params: params, Result: result, Error: reason}
	if o, ok := f.Office(office); ok {
		e.Region, e.Province = o.Region, o.Province
	}
	f.audit.Add(e)
}
