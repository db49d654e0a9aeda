// Package edge is the office daemon: it wires the durable buffer, the uplink
// to the fleet, the device drivers and the local HTTP API, and owns their
// lifecycle. The pieces live in sub-packages; this package only connects them.
package edge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/polis-edge/polis/edge/aggregate"
	"github.com/polis-edge/polis/edge/buffer"
	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/edge/uplink"
	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/modbus"
	"github.com/polis-edge/polis/protocols/mqtt"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/sample"
	wire "github.com/polis-edge/polis/protocols/uplink"
	"github.com/polis-edge/polis/rules"
	"github.com/polis-edge/polis/rules/image"
)

// Daemon is one running polis-edge.
type Daemon struct {
	cfg     config.Config
	log     *slog.Logger
	version string
	started time.Time

	buf     *buffer.Buffer
	state   *bolt.DB
	sink    *officeSink
	up      *uplink.Uplink
	drivers []driver
	// driverStates supervise drivers (same order): restarts and failures.
	driverStates []*driverState
	mqtt         *mqtt.Service
	modbus       *modbus.Service
	ocpp         *ocpp.Service
	image        *image.Image  // process image (image.go)
	rules        *rules.Runner // energy rules, nil without a rules section (rules.go)
	meterID      string        // the rules' grid meter: its readings start a cycle

	httpLn    net.Listener
	operators []operatorKey // who may act through the local API
	ready     chan struct{}
	lc        Lifecycle    // systemd notifications (supervise.go)
	alive     func() error // the supervision loop's liveness check

	mu      sync.Mutex
	pending []string // config changes that wait for a restart

	site    config.Config  // the local config file; cfg is it or the remote config in force
	level   *slog.LevelVar // the logger's level, when the caller hands it over (SetLogLevel)
	restart chan struct{}  // a remote config needs the daemon built again (Run returns ErrRestart)

	remoteMu      sync.Mutex                        // one remote config applied at a time (remoteconfig.go)
	remote        atomic.Pointer[RemoteConfigState] // which remote config runs (remotestate.go); written under remoteMu
	ruleOverrides map[string]float64                // rule parameters set by command (ruleparam.go), under mu
	rulesBase     *rules.Config                     // rules reloaded at run time (nil: cfg's), under mu
}

// driver is a device service (Modbus, OCPP, MQTT) as the daemon sees it.
type driver interface {
	Run(ctx context.Context) error
	health.Reporter
}

// New opens the state database and the buffer and builds every service, so
// that a config that cannot work fails here, before anything starts. site
// is the local config file; a remote config from the fleet in force in its
// data_dir replaces it (remotestate.go), and one on trial that cannot start
// is rolled back to the last good config here.
func New(site config.Config, log *slog.Logger, version string) (*Daemon, error) {
	if err := os.MkdirAll(site.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st, err := openState(site.StatePath(), log)
	if err != nil {
		return nil, err
	}
	cfg, rs, err := startConfig(st, site, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	d, err := build(cfg, st, log, version)
	if err != nil && rs.Running != 0 && rs.Running != rs.Good {
		why := fmt.Sprintf("the daemon could not start with it: %v", err)
		log.Error("remote config on trial does not start; rolling back", "version", rs.Running, "to", rs.Good, "err", err)
		if rs, err = rollback(st, site.DataDir, rs, why); err == nil {
			if cfg, rs, err = startConfig(st, site, log); err == nil {
				d, err = build(cfg, st, log, version)
			}
		}
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	d.site = site
	d.setRemote(rs)
	d.auditRollback()
	return d, nil
}

// build builds a daemon for cfg on the open state database; on failure it
// releases what it opened, but not the state database.
func build(cfg config.Config, st *bolt.DB, log *slog.Logger, version string) (*Daemon, error) {
	d := &Daemon{cfg: cfg, state: st, log: log, version: version, started: time.Now(), ready: make(chan struct{}),
		lc: noLifecycle{}, restart: make(chan struct{}, 1)}
	ops, err := loadOperators(cfg.HTTP.Operators)
	if err != nil {
		return nil, fmt.Errorf("http.operators: %w", err)
	}
	d.operators = ops
	buf, err := buffer.Open(cfg.BufferPath(), buffer.Options{
		MaxBytes: int64(cfg.Buffer.MaxBytes), CommitInterval: cfg.Buffer.CommitInterval, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("open buffer: %w", err)
	}
	d.buf, d.alive = buf, buf.Ping
	d.sink = &officeSink{buf: buf, office: cfg.Office.ID, hold: &clockHold{clock: systemClock{start: time.Now()}},
		agg: aggregate.New(cfg.Aggregate)}
	d.sink.agg.SetSendDelay(func(every time.Duration) time.Duration { return wire.WindowSendDelay(cfg.Office.ID, every) })
	// From here on a failure releases everything opened so far, the
	// drivers' listeners too (the OCPP one binds in New).
	fail := func(err error) (*Daemon, error) {
		d.closeDrivers()
		if cerr := buf.Close(); cerr != nil {
			log.Error("close buffer", "err", cerr)
		}
		return nil, err
	}
	if err := d.buildDrivers(); err != nil {
		return fail(err)
	}
	if err := d.buildRules(); err != nil {
		return fail(err)
	}
	if cfg.UplinkEnabled() {
		if d.up, err = d.newUplink(); err != nil {
			return fail(err)
		}
	}
	if cfg.HTTP.Listen != "" {
		if d.httpLn, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
			return fail(fmt.Errorf("http listen %s: %w", cfg.HTTP.Listen, err))
		}
	}
	return d, nil
}

// openState opens the state database; like the buffer, a corrupt file is moved
// aside rather than crash-looping the daemon.
func openState(path string, log *slog.Logger) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err == nil {
		return stampState(db, path)
	}
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("state db %s is locked: is another polis-edge running? %w", path, err)
	}
	aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	log.Error("state database unreadable, moving it aside and starting fresh", "path", path, "moved_to", aside, "err", err)
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("state db %s: %w (and cannot move it aside: %v)", path, err, rerr)
	}
	if db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second}); err != nil {
		return nil, err
	}
	return stampState(db, path)
}

func (d *Daemon) newUplink() (*uplink.Uplink, error) {
	u := d.cfg.Uplink
	password := u.Password
	if u.PasswordFile != "" {
		b, err := os.ReadFile(u.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("uplink.password_file: %w", err)
		}
		password = strings.TrimSpace(string(b))
	}
	username := u.Username
	if username == "" {
		username = d.cfg.Office.ID
	}
	tlsCfg, err := uplinkTLS(u)
	if err != nil {
		return nil, err
	}
	return uplink.New(uplink.Options{
		Office: d.cfg.Office.ID, URL: u.URL, Username: username, Password: password, ClientID: u.ClientID,
		TLS: tlsCfg, BatchSamples: u.BatchSamples, BatchBytes: int(u.BatchBytes), Window: u.Window,
		AckTimeout: u.AckTimeout, BacklogRate: u.BacklogRate, LiveInterval: u.LiveInterval, ReconnectMin: u.ReconnectMin,
		ReconnectMax: u.ReconnectMax, StatusInterval: u.StatusInterval, QoS0: u.QoS == 0, Status: d.statusMessage, Logger: d.log,
		Commands: d.onRemoteCommand, Config: d.onRemoteConfig,
	}, d.buf), nil
}

func uplinkTLS(u config.Uplink) (*tls.Config, error) {
	if u.CAFile == "" && u.CertFile == "" && !strings.HasPrefix(u.URL, "ssl") && !strings.HasPrefix(u.URL, "wss") {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if u.CAFile != "" {
		pem, err := os.ReadFile(u.CAFile)
		if err != nil {
			return nil, fmt.Errorf("uplink.ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("uplink.ca_file %s: no PEM certificate found", u.CAFile)
		}
	}
	if u.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(u.CertFile, u.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("uplink.cert_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// HTTPAddr is the bound address of the local API ("" when disabled).
func (d *Daemon) HTTPAddr() string {
	if d.httpLn == nil {
		return ""
	}
	return d.httpLn.Addr().String()
}

// Sink is what every driver appends samples to.
type Sink interface {
	Append(ctx context.Context, s ...sample.Sample) error
}

// Sink is where drivers put samples: the buffer, with the office tag added.
func (d *Daemon) Sink() Sink { return d.sink }

// Run starts everything and blocks until ctx is done, then shuts down in
// order: drivers stop producing, the uplink says goodbye, the buffer commits
// what is pending and closes. It returns ErrRestart, after the same
// shutdown, when a remote config needs the daemon built again (Serve).
func (d *Daemon) Run(ctx context.Context) error {
	defer d.closeStores()
	var wg sync.WaitGroup
	start := func(name string, run func(context.Context) error, c context.Context) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(c); err != nil && c.Err() == nil {
				d.log.Error("service stopped", "service", name, "err", err)
			}
		}()
	}
	driverCtx, stopDrivers := context.WithCancel(context.Background())
	for i, drv := range d.drivers {
		st := d.driverStates[i]
		start("driver-"+st.get().Name, func(c context.Context) error { d.runDriver(c, st, drv); return nil }, driverCtx)
	}
	upCtx, stopUplink := context.WithCancel(context.Background())
	if d.up != nil {
		start("uplink", d.up.Run, upCtx)
	}
	srv := d.startHTTP()
	start("telemetry", d.selfTelemetry, driverCtx)
	start("clock", d.watchClock, driverCtx)
	start("aggregate", d.flushAggregates, driverCtx)
	if d.rules != nil {
		start("rules", d.rules.Run, driverCtx)
	}
	if d.remoteState().Trial {
		start("remote-config", d.watchTrial, driverCtx)
	}
	close(d.ready)
	d.log.Info("polis-edge running", "office", d.cfg.Office.ID, "version", d.version, "http", d.HTTPAddr(), "data_dir", d.cfg.DataDir)
	d.lc.Ready()
	go d.supervise(ctx)

	restart := false
	select {
	case <-ctx.Done():
		d.lc.Stopping()
		d.log.Info("shutting down")
	case <-d.restart:
		restart = true
		d.log.Info("stopping to restart with the remote config in force")
	}
	stopDrivers()
	stopUplink()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	wg.Wait()
	d.flushOpenWindows()
	if restart {
		return ErrRestart
	}
	return nil
}

func (d *Daemon) closeStores() {
	if err := d.buf.Close(); err != nil {
		d.log.Error("close buffer", "err", err)
	}
	if d.state != nil {
		if err := d.state.Close(); err != nil {
			d.log.Error("close state db", "err", err)
		}
	}
}

func (d *Daemon) startHTTP() *http.Server {
	if d.httpLn == nil {
		return nil
	}
	srv := &http.Server{Handler: d.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(d.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server", "err", err)
		}
	}()
	return srv
}

// Reload applies a new config where that is safe at run time (log level) and
// reports every other change as needing a restart.
// While a remote config from the fleet is in force the local file is not
// used: Reload changes nothing and says so.
func (d *Daemon) Reload(next config.Config, level *slog.LevelVar) []string {
	if v := d.RemoteVersion(); v != 0 {
		d.log.Warn("SIGHUP: remote config from the fleet in force; the local file is not used while it is", "version", v)
		return nil
	}
	level.Set(next.SlogLevel())
	changed := d.reloadRules(next, config.Diff(d.cfg, next))
	d.mu.Lock()
	d.pending = changed
	d.mu.Unlock()
	return changed
}

// officeSink stamps the office tag on every sample on its way into the buffer.
type officeSink struct {
	buf    *buffer.Buffer
	office string
	hold   *clockHold             // samples stamped while the clock was unset (clock.go)
	tap    func(...sample.Sample) // refreshes the process image (image.go)
	agg    *aggregate.Aggregator  // windows of the aggregated measurements (aggregating.go)
}

func (s *officeSink) Append(ctx context.Context, samples ...sample.Sample) error {
	for i := range samples {
		tags := make(map[string]string, len(samples[i].Tags)+1)
		for k, v := range samples[i].Tags {
			tags[k] = v
		}
		tags[sample.TagOffice] = s.office
		samples[i].Tags = tags
	}
	if s.tap != nil {
		s.tap(samples...)
	}
	if s.hold != nil {
		var lost int
		if samples, lost = s.hold.split(samples); lost > 0 {
			s.buf.CountDrop(DropClockUnset, uint64(lost))
		}
		if len(samples) == 0 {
			return nil
		}
	}
	if s.agg != nil {
		if samples = s.agg.Add(samples); len(samples) == 0 {
			return nil
		}
	}
	return s.buf.Append(ctx, samples...)
}
