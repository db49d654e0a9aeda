// Package config loads and validates polis-edge's YAML configuration.
//
// A bad config never half-starts the daemon: Load decodes strictly (unknown keys
// are errors that name the line) and Validate names the offending key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/polis-edge/polis/edge/aggregate"
	"github.com/polis-edge/polis/protocols/bytesize"
	"github.com/polis-edge/polis/protocols/netaddr"
	"github.com/polis-edge/polis/protocols/uplink"
	"github.com/polis-edge/polis/rules"
)

// Config is the whole polis-edge configuration.
type Config struct {
	Office    Office        `yaml:"office"`
	Log       Log           `yaml:"log"`
	DataDir   string        `yaml:"data_dir"`
	Buffer    Buffer        `yaml:"buffer"`
	Uplink    Uplink        `yaml:"uplink"`
	HTTP      HTTP          `yaml:"http"`
	Telemetry Telemetry     `yaml:"telemetry"`
	Rules     *rules.Config `yaml:"rules"` // energy rules; reload on SIGHUP (rules.go)
	// Aggregate lists the measurements the office sends as 10 s / 1 min
	// windows instead of raw samples (edge/aggregate); applied at run time.
	Aggregate []aggregate.Rule `yaml:"aggregate"`
	Drivers   `yaml:",inline"`
}

// Office identifies the post office this daemon runs in.
type Office struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
}

// Log selects the slog handler.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Buffer configures the durable sample buffer.
type Buffer struct {
	Path           string        `yaml:"path"` // default <data_dir>/buffer.db
	MaxBytes       bytesize.Size `yaml:"max_bytes"`
	CommitInterval time.Duration `yaml:"commit_interval"`
}

// Uplink configures the MQTT connection to the fleet.
type Uplink struct {
	Enabled        *bool         `yaml:"enabled"` // default true; false keeps everything in the buffer
	URL            string        `yaml:"url"`     // tcp://, ssl://, ws://, wss://
	Username       string        `yaml:"username"`
	Password       string        `yaml:"password"`
	PasswordFile   string        `yaml:"password_file"`
	ClientID       string        `yaml:"client_id"`
	CAFile         string        `yaml:"ca_file"`
	CertFile       string        `yaml:"cert_file"`
	KeyFile        string        `yaml:"key_file"`
	BatchSamples   int           `yaml:"batch_samples"`   // max samples per batch
	BatchBytes     bytesize.Size `yaml:"batch_bytes"`     // max uncompressed bytes per batch
	Window         int           `yaml:"window"`          // batches in flight awaiting ack
	AckTimeout     time.Duration `yaml:"ack_timeout"`     // resend a batch not acked by then
	BacklogRate    int           `yaml:"backlog_rate"`    // samples/s drained from the backlog; 0 = unlimited
	LiveInterval   time.Duration `yaml:"live_interval"`   // least time between live batches: freshness against the fleet's requests/s
	ReconnectMin   time.Duration `yaml:"reconnect_min"`   // first back-off after a lost connection
	ReconnectMax   time.Duration `yaml:"reconnect_max"`   // back-off ceiling
	StatusInterval time.Duration `yaml:"status_interval"` // retained status refresh
	// QoS is the MQTT QoS of batches and of the ack, command and config
	// subscriptions: 1 (default), or 0 on a NATS cluster, where QoS 1 costs
	// a JetStream consumer per subscription and a second stored copy of
	// every batch, and buys nothing: batches are acked end to end.
	QoS int `yaml:"qos"`
	// ConfigGrace is how long a config pushed by the fleet has, once applied,
	// to reach the fleet again before the edge rolls back to the last good one.
	ConfigGrace time.Duration `yaml:"config_grace"`
}

// TrialGrace is the grace a config on trial gets: config_grace, but never
// less than one reconnect back-off, or a slow first connect would roll back
// a good config.
func (u Uplink) TrialGrace() time.Duration { return max(u.ConfigGrace, u.ReconnectMax) }

// HTTP configures the local API (health, metrics, status).
type HTTP struct {
	Listen    string     `yaml:"listen"`    // empty disables it
	Pprof     bool       `yaml:"pprof"`     // serve /debug/pprof/ for diagnosing CPU and memory
	Operators []Operator `yaml:"operators"` // who may act through the local API (see operator.go)
}

// Telemetry configures the edge's reports about itself.
type Telemetry struct {
	Interval time.Duration `yaml:"interval"`
}

// Default returns the embedded defaults: a demo office talking to a fleet on
// this machine. Every field can be overridden from the file.
func Default() Config {
	on := true
	return Config{
		Office:  Office{ID: "00001", Name: "Ufficio Polis demo"},
		Log:     Log{Level: "info", Format: "text"},
		DataDir: "polis-edge-data",
		Buffer:  Buffer{MaxBytes: 512 << 20, CommitInterval: 200 * time.Millisecond},
		Uplink: Uplink{
			Enabled: &on, URL: "tcp://127.0.0.1:1883",
			BatchSamples: 5000, BatchBytes: 512 << 10, Window: 8,
			AckTimeout: 30 * time.Second, BacklogRate: 20000, LiveInterval: time.Second,
			ReconnectMin: time.Second, ReconnectMax: 2 * time.Minute,
			StatusInterval: 30 * time.Second, ConfigGrace: 10 * time.Minute, QoS: 1,
		},
		HTTP:      HTTP{Listen: "127.0.0.1:9100"},
		Telemetry: Telemetry{Interval: 10 * time.Second},
	}
}

// Load reads path over the defaults and validates the result.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	cfg.resolvePaths(filepath.Dir(path))
	return cfg, nil
}

// Parse decodes YAML over the defaults and validates the result.
func Parse(data []byte) (Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// io.EOF: an empty file means "all defaults".
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	// A second document after "---" would be silently ignored: refuse it.
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return Config{}, fmt.Errorf("config: line %d: a second YAML document (after ---); the config is one document", extra.Line)
	} else if !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg.Drivers.applyDefaults()
	cfg.rulesDefaults()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// resolvePaths makes relative paths relative to the config file, so the daemon
// behaves the same whatever directory systemd starts it in.
func (c *Config) resolvePaths(base string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.DataDir = abs(c.DataDir)
	c.Buffer.Path = abs(c.Buffer.Path)
	c.Uplink.PasswordFile = abs(c.Uplink.PasswordFile)
	c.Uplink.CAFile = abs(c.Uplink.CAFile)
	c.Uplink.CertFile = abs(c.Uplink.CertFile)
	c.Uplink.KeyFile = abs(c.Uplink.KeyFile)
	for i := range c.HTTP.Operators {
		c.HTTP.Operators[i].TokenFile = abs(c.HTTP.Operators[i].TokenFile)
	}
}

// BufferPath is where the telemetry buffer lives.
func (c Config) BufferPath() string {
	if c.Buffer.Path != "" {
		return c.Buffer.Path
	}
	return filepath.Join(c.DataDir, "buffer.db")
}

// StatePath is the state database (sessions, audit trail): a separate file so
// that moving a corrupt buffer aside never loses a charging session.
func (c Config) StatePath() string { return filepath.Join(c.DataDir, "state.db") }

// UplinkEnabled reports whether the daemon connects to the fleet.
func (c Config) UplinkEnabled() bool { return c.Uplink.Enabled == nil || *c.Uplink.Enabled }

// SlogLevel maps log.level to a slog level.
func (c Config) SlogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.Log.Level)) // validated
	return l
}

// Validate checks every key and reports all problems at once, each naming its key.
func (c Config) Validate() error {
	var errs []string
	bad := func(key, format string, a ...any) { errs = append(errs, key+": "+fmt.Sprintf(format, a...)) }
	if err := uplink.ValidOffice(c.Office.ID); err != nil {
		bad("office.id", "%v", err)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Log.Level)); err != nil {
		bad("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "want text or json, got %q", c.Log.Format)
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if c.Buffer.MaxBytes < 1<<20 {
		bad("buffer.max_bytes", "must be at least 1MiB, got %d", c.Buffer.MaxBytes)
	}
	if c.Buffer.CommitInterval <= 0 || c.Buffer.CommitInterval > time.Second {
		bad("buffer.commit_interval", "must be in (0, 1s]: it bounds what a power cut can lose, got %s", c.Buffer.CommitInterval)
	}
	c.Uplink.validate(bad, c.UplinkEnabled())
	validateOperators(c.HTTP.Operators, bad)
	if c.HTTP.Listen != "" {
		if err := netaddr.CheckListen(c.HTTP.Listen); err != nil {
			bad("http.listen", "%v", err)
		}
	}
	if c.Telemetry.Interval < time.Second {
		bad("telemetry.interval", "must be at least 1s, got %s", c.Telemetry.Interval)
	}
	errs = append(errs, c.Drivers.validate()...)
	errs = append(errs, c.validateRules()...)
	if err := aggregate.Validate(c.Aggregate); err != nil {
		errs = append(errs, strings.Split(err.Error(), "\n")...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

func (u Uplink) validate(bad func(key, format string, a ...any), enabled bool) {
	if !enabled {
		return
	}
	if !strings.Contains(u.URL, "://") {
		bad("uplink.url", "want scheme://host:port (tcp, ssl, ws, wss), got %q", u.URL)
	}
	if u.Password != "" && u.PasswordFile != "" {
		bad("uplink.password_file", "set password or password_file, not both")
	}
	if (u.CertFile == "") != (u.KeyFile == "") {
		bad("uplink.cert_file", "cert_file and key_file go together")
	}
	if u.BatchSamples < 1 || u.BatchSamples > 100000 {
		bad("uplink.batch_samples", "must be 1-100000, got %d", u.BatchSamples)
	}
	// The fleet adds its registry tags to every line (about 1.5x) before
	// writing a batch to InfluxDB in one request: 4 MiB keeps that well under
	// InfluxDB's 25 MB max-body-size; the 512 KiB default under the 1 MiB that
	// nginx and most proxies accept. The fleet splits on a 413 anyway.
	if u.BatchBytes < 1<<10 || u.BatchBytes > 4<<20 {
		bad("uplink.batch_bytes", "must be 1KiB-4MiB, got %d", u.BatchBytes)
	}
	if u.Window < 1 || u.Window > 64 {
		bad("uplink.window", "must be 1-64, got %d", u.Window)
	}
	if u.AckTimeout < time.Second {
		bad("uplink.ack_timeout", "must be at least 1s, got %s", u.AckTimeout)
	}
	if u.BacklogRate < 0 {
		bad("uplink.backlog_rate", "must be >= 0 (0 = unlimited), got %d", u.BacklogRate)
	}
	if u.LiveInterval < 100*time.Millisecond || u.LiveInterval > time.Minute {
		bad("uplink.live_interval", "must be 100ms-1m, got %s", u.LiveInterval)
	}
	if u.ReconnectMin <= 0 || u.ReconnectMax < u.ReconnectMin {
		bad("uplink.reconnect_max", "need 0 < reconnect_min <= reconnect_max, got %s and %s", u.ReconnectMin, u.ReconnectMax)
	}
	if u.QoS != 0 && u.QoS != 1 {
		bad("uplink.qos", "must be 0 or 1, got %d", u.QoS)
	}
	if u.StatusInterval < time.Second {
		bad("uplink.status_interval", "must be at least 1s, got %s", u.StatusInterval)
	}
	if u.ConfigGrace < time.Second {
		bad("uplink.config_grace", "must be at least 1s, got %s", u.ConfigGrace)
	}
}
