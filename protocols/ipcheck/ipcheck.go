// Package ipcheck watches IP equipment the office does not drive (ATMs
// "Postamat", self-service kiosks "totem", information windows): each
// configured device is checked by TCP connect or HTTP GET with an expected
// status, on its own interval and timeout, and reported as a device with
// health like any driver's, so the fleet raises and clears alarms for it.
package ipcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/sample"
)

// Config is the edge's `ipcheck:` section.
type Config struct {
	Devices []Device `yaml:"devices"`
}

// Device is one watched piece of equipment.
type Device struct {
	ID    string `yaml:"id"`
	Kind  string `yaml:"kind"`  // atm, kiosk, info_window, other
	Check string `yaml:"check"` // tcp or http
	// Address is host:port for tcp; URL the http(s) URL for http.
	Address      string        `yaml:"address"`
	URL          string        `yaml:"url"`
	ExpectStatus int           `yaml:"expect_status"` // http: default 200
	Interval     time.Duration `yaml:"interval"`      // default 30s
	Timeout      time.Duration `yaml:"timeout"`       // default 5s
	// FailAfter consecutive failures make the device unreachable (default 2),
	// so one lost packet does not page anybody.
	FailAfter int `yaml:"fail_after"`
}

// ApplyDefaults fills the unset fields.
func (c *Config) ApplyDefaults() {
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Kind == "" {
			d.Kind = "other"
		}
		if d.ExpectStatus == 0 {
			d.ExpectStatus = http.StatusOK
		}
		if d.Interval == 0 {
			d.Interval = 30 * time.Second
		}
		if d.Timeout == 0 {
			d.Timeout = 5 * time.Second
		}
		if d.FailAfter == 0 {
			d.FailAfter = 2
		}
	}
}

// Validate names the key of every problem.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, d := range c.Devices {
		key := fmt.Sprintf("ipcheck.devices[%d]", i)
		bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(key+format, a...)) }
		switch {
		case d.ID == "":
			bad(".id: required")
		case seen[d.ID]:
			bad(".id: duplicate %q", d.ID)
		}
		seen[d.ID] = true
		switch d.Kind {
		case "atm", "kiosk", "info_window", "other":
		default:
			bad(".kind: atm, kiosk, info_window or other, not %q", d.Kind)
		}
		switch d.Check {
		case "tcp":
			if _, _, err := net.SplitHostPort(d.Address); err != nil {
				bad(".address: host:port required for a tcp check: %v", err)
			}
		case "http":
			if u, err := url.Parse(d.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(".url: an http(s) URL is required for an http check, not %q", d.URL)
			}
			if d.ExpectStatus < 100 || d.ExpectStatus > 599 {
				bad(".expect_status: 100-599, not %d", d.ExpectStatus)
			}
		default:
			bad(".check: tcp or http, not %q", d.Check)
		}
		if d.Interval < time.Second {
			bad(".interval: at least 1s")
		}
		if d.Timeout <= 0 || d.Timeout > d.Interval {
			bad(".timeout: positive and at most the interval")
		}
		if d.FailAfter < 1 {
			bad(".fail_after: at least 1")
		}
	}
	return errors.Join(errs...)
}

// Sink takes the samples (the edge's buffer).
type Sink interface {
	Append(ctx context.Context, samples ...sample.Sample) error
}

// Service checks every device on its own goroutine.
type Service struct {
	cfg  Config
	sink Sink
	log  *slog.Logger
	http *http.Client

	mu    sync.Mutex
	state map[string]*devState
}

type devState struct {
	health.Device
	fails int
}

// New validates cfg (defaults applied by the caller's config loading).
func New(cfg Config, sink Sink, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, sink: sink, log: log, state: map[string]*devState{},
		// No redirects followed: a kiosk redirecting to an error page is not up.
		http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	now := time.Now()
	for _, d := range cfg.Devices {
		s.state[d.ID] = &devState{Device: health.Device{ID: d.ID, Kind: d.Kind, Protocol: "ip", State: "",
			Since: now, LastError: "not checked yet", Counters: map[string]uint64{}}}
	}
	return s, nil
}

// Run checks until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, d := range s.cfg.Devices {
		wg.Add(1)
		go func() { defer wg.Done(); s.watch(ctx, d) }()
	}
	wg.Wait()
	return nil
}

func (s *Service) watch(ctx context.Context, d Device) {
	t := time.NewTicker(d.Interval)
	defer t.Stop()
	for {
		s.record(ctx, d, s.check(ctx, d))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// result of one check.
type result struct {
	err     error
	latency time.Duration
	status  int
}

func (s *Service) check(ctx context.Context, d Device) result {
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	start := time.Now()
	if d.Check == "tcp" {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", d.Address)
		if err != nil {
			return result{err: err}
		}
		c.Close()
		return result{latency: time.Since(start)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return result{err: err}
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return result{err: err}
	}
	resp.Body.Close()
	r := result{latency: time.Since(start), status: resp.StatusCode}
	if resp.StatusCode != d.ExpectStatus {
		r.err = fmt.Errorf("HTTP %d, expected %d", resp.StatusCode, d.ExpectStatus)
	}
	return r
}

// record updates the device's health and writes its sample; a change of
// state is also an event (device_unreachable warning / device_ok info).
func (s *Service) record(ctx context.Context, d Device, r result) {
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	st := s.state[d.ID]
	prev := st.State
	st.Counters["checks"]++
	if r.err != nil {
		st.Counters["failures"]++
		st.fails++
		st.LastError = r.err.Error()
		if st.fails >= d.FailAfter {
			st.State = health.Unreachable
		}
	} else {
		st.fails = 0
		st.State, st.LastSeen, st.LastError = health.OK, now, ""
	}
	changed := st.State != prev // "" (not yet known) until the first success or fail_after failures
	if changed {
		st.Since = now
	}
	errText := st.LastError
	state := st.State
	s.mu.Unlock()

	fields := map[string]any{"up": r.err == nil}
	if r.err == nil {
		fields["latency_ms"] = float64(r.latency.Microseconds()) / 1000
	}
	if r.status != 0 {
		fields["http_status"] = int64(r.status)
	}
	out := []sample.Sample{{Measurement: "ipcheck", Tags: map[string]string{sample.TagDevice: d.ID, "kind": d.Kind}, Fields: fields, Time: now}}
	if changed {
		kind, sev, msg := "device_ok", sample.SeverityInfo, d.ID+" answers again"
		if state != health.OK {
			kind, sev, msg = "device_unreachable", sample.SeverityWarning, d.ID+" ("+d.Kind+") does not answer: "+errText
		}
		out = append(out, sample.Event(d.ID, kind, sev, msg, now,
			map[string]any{"previous": string(prev), "protocol": "ip"}).Distinct(fmt.Sprint(d.ID, "/", kind, "/", now.UnixNano())))
		s.log.Info("ip device state", "device", d.ID, "kind", d.Kind, "state", state, "err", errText)
	}
	if err := s.sink.Append(ctx, out...); err != nil && ctx.Err() == nil {
		s.log.Warn("ipcheck sample not buffered", "device", d.ID, "err", err)
	}
}

// Devices implements health.Reporter.
func (s *Service) Devices() []health.Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]health.Device, 0, len(s.cfg.Devices))
	for _, d := range s.cfg.Devices {
		dv := s.state[d.ID].Device
		c := make(map[string]uint64, len(dv.Counters))
		for k, v := range dv.Counters {
			c[k] = v
		}
		dv.Counters = c
		out = append(out, dv)
	}
	return out
}
