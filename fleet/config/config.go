// Package config is polis-fleet's YAML configuration: defaults, loading with
// unknown keys rejected, and validation whose messages name the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/polis-edge/polis/protocols/bytesize"
)

// Config is the whole fleet configuration.
type Config struct {
	// Instance names this fleet process in logs and in its own telemetry.
	Instance string `yaml:"instance"`
	Log      Log    `yaml:"log"`
	HTTP     HTTP   `yaml:"http"`
	Broker   Broker `yaml:"broker"`
	Influx   Influx `yaml:"influx"`
	Ingest   Ingest `yaml:"ingest"`
	Alarms   Alarms `yaml:"alarms"`
	// DataDir holds the fleet's own state file (fleet.db: users, sessions,
	// tokens, alarm history, audit). "" keeps it in a temporary directory
	// removed at exit (demo and tests only: nothing survives a restart).
	DataDir   string    `yaml:"data_dir"`
	Retention Retention `yaml:"retention"`
	Webhooks  []Webhook `yaml:"webhooks"`
	// TelemetryInterval is how often the fleet writes its own polis_fleet point.
	TelemetryInterval time.Duration `yaml:"telemetry_interval"`
	Offices           []Office      `yaml:"offices"`
	// OfficesFile is a YAML list of offices, kept apart so 7,000 offices do not
	// bloat the main file. Relative paths are relative to the main file.
	OfficesFile string `yaml:"offices_file"`
}

type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text, json
}

type HTTP struct {
	Listen string `yaml:"listen"`
	// TLS serves HTTPS when cert and key are set; session cookies are then Secure.
	TLS HTTPTLS `yaml:"tls"`
	// SessionTTL is how long a browser stays signed in.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// LoginPerMinute is how many sign-in attempts one client address may
	// make per minute (bursts of the same size); more get 429.
	LoginPerMinute int `yaml:"login_per_minute"`
	// MaxBody bounds request bodies (bytes); larger ones get 413.
	MaxBody int64 `yaml:"max_body"`
}

type HTTPTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Retention bounds the fleet's own history by age.
type Retention struct {
	Audit    time.Duration `yaml:"audit"`    // audit trail entries
	Alarms   time.Duration `yaml:"alarms"`   // closed alarms (open ones are kept)
	Commands time.Duration `yaml:"commands"` // answered remote commands
}

// Webhook posts alarm changes in its scope (the whole fleet, a region, or
// provinces of a region) as JSON, signed with HMAC-SHA256 of secret.
type Webhook struct {
	URL       string   `yaml:"url"`
	Secret    string   `yaml:"secret"`
	Region    string   `yaml:"region"`
	Provinces []string `yaml:"provinces"`
}

// Broker selects the embedded mochi broker (default), an external one, or a
// NATS cluster (docs/deployment.md).
type Broker struct {
	Mode     string   `yaml:"mode"` // embedded, external, nats
	Embedded Embedded `yaml:"embedded"`
	External External `yaml:"external"` // in nats mode: the cluster's MQTT listener, for status and acks
	NATS     NATS     `yaml:"nats"`
}

// NATS is the cluster mode: edges speak MQTT to any node; telemetry is
// captured by a replicated JetStream stream that the fleet instances consume
// as one work queue, so N instances split the load and a dead instance's
// unacknowledged batches go to another.
type NATS struct {
	URLs     []string      `yaml:"urls"` // nats://host:4222 of the nodes
	Username string        `yaml:"username"`
	Password string        `yaml:"password"`
	Stream   string        `yaml:"stream"`   // JetStream stream capturing polis.v1.*.telemetry
	Replicas int           `yaml:"replicas"` // stream replicas (3 in a 3-node cluster)
	Consumer string        `yaml:"consumer"` // durable work-queue consumer shared by all instances
	AckWait  time.Duration `yaml:"ack_wait"` // a batch not done by then goes to another instance
}

type Embedded struct {
	TCP string `yaml:"tcp"` // "" disables the plain listener
	TLS TLS    `yaml:"tls"`
	// OfficeLimits throttle one office that floods, so the others do not
	// feel it (fleet/broker/throttle.go).
	OfficeLimits OfficeLimits `yaml:"office_limits"`
}

// OfficeLimits bound what one office may send to the embedded broker. A
// publish over the rate waits up to MaxWait in that office's own connection;
// beyond that it is acknowledged to MQTT but not processed, and counted (the
// office's uplink resends it after its ack timeout). A connect over the rate
// is refused, and counted.
type OfficeLimits struct {
	MessagesPerSecond float64       `yaml:"messages_per_second"` // bursts of twice this
	BytesPerSecond    bytesize.Size `yaml:"bytes_per_second"`    // payload bytes; bursts of four times this
	ConnectsPerMinute int           `yaml:"connects_per_minute"` // bursts of the same number
	MaxWait           time.Duration `yaml:"max_wait"`
}

type TLS struct {
	Listen string `yaml:"listen"` // "" disables TLS
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
}

type External struct {
	URL string `yaml:"url"` // tcp://host:1883, ssl://host:8883
	// FallbackURLs are tried when URL is down (the other nodes of a cluster).
	FallbackURLs []string `yaml:"fallback_urls"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	ClientID     string   `yaml:"client_id"`
	CAFile       string   `yaml:"ca_file"`
	// ShareGroup is the $share group: fleet instances in one group split the telemetry.
	ShareGroup string `yaml:"share_group"`
}

type Influx struct {
	URL     string        `yaml:"url"`
	Token   string        `yaml:"token"`  // 2.x token, or "user:pass" for 1.8
	Org     string        `yaml:"org"`    // ignored by 1.8
	Bucket  string        `yaml:"bucket"` // 2.x bucket, or "db/rp" for 1.8
	Timeout time.Duration `yaml:"timeout"`
	Gzip    bool          `yaml:"gzip"`
}

type Ingest struct {
	Workers int `yaml:"workers"` // batches written concurrently
	Queue   int `yaml:"queue"`   // batches waiting for a worker before the broker is back-pressured
	// ClockTolerance: samples stamped further ahead of the fleet's clock are
	// refused (reason clock_ahead) and the office is reported (default 5m).
	ClockTolerance time.Duration `yaml:"clock_tolerance"`
}

type Alarms struct {
	Keep int `yaml:"keep"` // open alarms shown per office in the office list
	// OfflineAfter is how long an office may stay silent before the fleet
	// raises office_offline.
	OfflineAfter time.Duration `yaml:"offline_after"`
}

// Office is one post office: its broker credentials and registry metadata.
type Office struct {
	ID             string `yaml:"id"`
	Password       string `yaml:"password"`
	PasswordSHA256 string `yaml:"password_sha256"`
	Name           string `yaml:"name"`
	Comune         string `yaml:"comune"`
	ISTAT          string `yaml:"istat"`
	Province       string `yaml:"province"`
	Region         string `yaml:"region"`
}

// Default is the demo-friendly configuration used when no file is given.
func Default() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "polis-fleet"
	}
	return Config{
		Instance: host,
		Log:      Log{Level: "info", Format: "text"},
		HTTP:     HTTP{Listen: "127.0.0.1:8080", SessionTTL: 12 * time.Hour, LoginPerMinute: 10, MaxBody: 1 << 20},
		Broker: Broker{
			Mode: "embedded",
			Embedded: Embedded{TCP: "127.0.0.1:1883", OfficeLimits: OfficeLimits{
				// An office sends a batch a second live and drains a backlog
				// at backlog_rate (20,000 samples/s, 4 batches of 5,000): 100/s
				// leaves room for small batches and an unlimited drain on a
				// fast link, and still bounds a flood.
				MessagesPerSecond: 100, BytesPerSecond: 16 << 20, ConnectsPerMinute: 12, MaxWait: 2 * time.Second}},
			External: External{ClientID: "polis-fleet-" + host, ShareGroup: "polis-fleet"},
			NATS:     NATS{Stream: "POLIS_TELEMETRY", Replicas: 3, Consumer: "polis-fleet", AckWait: time.Minute},
		},
		Influx: Influx{URL: "http://127.0.0.1:8086", Bucket: "polis/autogen", Timeout: 10 * time.Second},
		// The queue is what a write can coalesce: 1,024 batches of ~1 KiB
		// (live) to ~50 KiB (backlog, compressed) is 1–50 MB.
		Ingest:            Ingest{Workers: 4, Queue: 1024, ClockTolerance: 5 * time.Minute},
		Alarms:            Alarms{Keep: 20, OfflineAfter: 5 * time.Minute},
		Retention:         Retention{Audit: 400 * 24 * time.Hour, Alarms: 400 * 24 * time.Hour, Commands: 400 * 24 * time.Hour},
		TelemetryInterval: 10 * time.Second,
	}
}

// Load reads path over the defaults and validates the result.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data, filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes YAML over the defaults, loads offices_file (relative to dir)
// and validates.
func Parse(data []byte, dir string) (Config, error) {
	cfg := Default()
	if err := decodeStrict(data, &cfg); err != nil {
		return Config{}, err
	}
	if cfg.OfficesFile != "" {
		p := cfg.OfficesFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		more, err := os.ReadFile(p)
		if err != nil {
			return Config{}, fmt.Errorf("offices_file: %w", err)
		}
		var list []Office
		if err := decodeStrict(more, &list); err != nil {
			return Config{}, fmt.Errorf("offices_file %s: %w", p, err)
		}
		cfg.Offices = append(cfg.Offices, list...)
	}
	return cfg, cfg.Validate()
}

func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err // yaml.v3 errors already say "yaml: line N: ..."
	}
	return nil
}
