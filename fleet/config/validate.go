package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/polis-edge/polis/protocols/uplink"
)

// Validate reports every problem, each prefixed with the key it is about.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Instance == "" {
		bad("instance", "required")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "must be text or json, not %q", c.Log.Format)
	}
	checkAddr(bad, "http.listen", c.HTTP.Listen, true)
	c.validateBroker(bad)
	c.validateInflux(bad)
	if c.Ingest.Workers < 1 || c.Ingest.Workers > 256 {
		bad("ingest.workers", "must be 1-256, not %d", c.Ingest.Workers)
	}
	if c.Ingest.Queue < 0 {
		bad("ingest.queue", "must not be negative")
	}
	if c.Alarms.Keep < 1 {
		bad("alarms.keep", "must be at least 1")
	}
	if c.Alarms.OfflineAfter <= 0 {
		bad("alarms.offline_after", "must be positive")
	}
	if (c.HTTP.TLS.Cert == "") != (c.HTTP.TLS.Key == "") {
		bad("http.tls", "set both cert and key, or neither")
	}
	if c.HTTP.SessionTTL < time.Minute {
		bad("http.session_ttl", "must be at least 1m")
	}
	if c.HTTP.LoginPerMinute < 1 {
		bad("http.login_per_minute", "must be at least 1")
	}
	if c.HTTP.MaxBody < 1024 {
		bad("http.max_body", "must be at least 1024 bytes")
	}
	if c.Retention.Audit < time.Hour {
		bad("retention.audit", "must be at least 1h")
	}
	if c.Retention.Commands < time.Hour {
		bad("retention.commands", "must be at least 1h")
	}
	if c.Retention.Alarms < time.Hour {
		bad("retention.alarms", "must be at least 1h")
	}
	for i, h := range c.Webhooks {
		key := fmt.Sprintf("webhooks[%d]", i)
		if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key+".url", "must be an http(s) URL, not %q", h.URL)
		}
		if len(h.Provinces) > 0 && h.Region == "" {
			bad(key+".provinces", "need their region")
		}
	}
	if c.TelemetryInterval <= 0 {
		bad("telemetry_interval", "must be positive")
	}
	seen := map[string]int{}
	for i, o := range c.Offices {
		key := fmt.Sprintf("offices[%d]", i)
		if err := uplink.ValidOffice(o.ID); err != nil {
			bad(key+".id", "%v", err)
			continue
		}
		if j, dup := seen[o.ID]; dup {
			bad(key+".id", "duplicate office %q (also offices[%d])", o.ID, j)
		}
		seen[o.ID] = i
		if o.Password != "" && o.PasswordSHA256 != "" {
			bad(key, "set password or password_sha256, not both")
		}
		if o.PasswordSHA256 != "" {
			if b, err := hex.DecodeString(o.PasswordSHA256); err != nil || len(b) != 32 {
				bad(key+".password_sha256", "must be 64 hex digits")
			}
		}
		if c.Broker.Mode == "embedded" && o.Password == "" && o.PasswordSHA256 == "" {
			bad(key, "office %s needs password or password_sha256 to connect to the embedded broker", o.ID)
		}
	}
	return errors.Join(errs...)
}

func (c *Config) validateBroker(bad func(string, string, ...any)) {
	b := c.Broker
	switch b.Mode {
	case "embedded":
		if b.Embedded.TCP == "" && b.Embedded.TLS.Listen == "" {
			bad("broker.embedded", "enable tcp or tls.listen")
		}
		checkAddr(bad, "broker.embedded.tcp", b.Embedded.TCP, false)
		if l := b.Embedded.OfficeLimits; l.MessagesPerSecond <= 0 || l.BytesPerSecond < 64<<10 || l.ConnectsPerMinute < 1 || l.MaxWait < 0 {
			bad("broker.embedded.office_limits", "messages_per_second > 0, bytes_per_second ≥ 64KiB, connects_per_minute ≥ 1 and max_wait ≥ 0 are required, got %+v", l)
		}
		checkAddr(bad, "broker.embedded.tls.listen", b.Embedded.TLS.Listen, false)
		if b.Embedded.TLS.Listen != "" && (b.Embedded.TLS.Cert == "" || b.Embedded.TLS.Key == "") {
			bad("broker.embedded.tls", "cert and key are required with listen")
		}
	case "external", "nats":
		u, err := url.Parse(b.External.URL)
		switch {
		case b.External.URL == "":
			bad("broker.external.url", "required in external mode")
		case err != nil:
			bad("broker.external.url", "%v", err)
		case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "mqtt" && u.Scheme != "mqtts":
			bad("broker.external.url", "scheme must be tcp, ssl, tls, mqtt or mqtts, not %q", u.Scheme)
		}
		if b.External.ClientID == "" {
			bad("broker.external.client_id", "required in external mode")
		}
		if b.Mode == "nats" {
			c.validateNATS(bad)
		} else if b.External.ShareGroup == "" || strings.ContainsAny(b.External.ShareGroup, "/+#") {
			bad("broker.external.share_group", "must be a non-empty name without /, + or #")
		}
	default:
		bad("broker.mode", "must be embedded, external or nats, not %q", b.Mode)
	}
}

func (c *Config) validateInflux(bad func(string, string, ...any)) {
	in := c.Influx
	if in.URL == "" {
		bad("influx.url", "required")
	} else if u, err := url.Parse(in.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("influx.url", "must be an http(s) URL, not %q", in.URL)
	}
	if in.Bucket == "" {
		bad("influx.bucket", "required (InfluxDB 1.8: database/retention-policy, e.g. polis/autogen)")
	}
	if in.Timeout <= 0 {
		bad("influx.timeout", "must be positive")
	}
}

func checkAddr(bad func(string, string, ...any), key, addr string, required bool) {
	if addr == "" {
		if required {
			bad(key, "required")
		}
		return
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		bad(key, "must be host:port: %v", err)
	}
}

func (c *Config) validateNATS(bad func(string, string, ...any)) {
	n := c.Broker.NATS
	if len(n.URLs) == 0 {
		bad("broker.nats.urls", "required in nats mode")
	}
	for i, s := range n.URLs {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			bad(fmt.Sprintf("broker.nats.urls[%d]", i), "want nats://host:port or tls://host:port, got %q", s)
		}
	}
	if n.Stream == "" || strings.ContainsAny(n.Stream, ". *>") {
		bad("broker.nats.stream", "must be a stream name without '.', ' ', '*' or '>'")
	}
	if n.Consumer == "" || strings.ContainsAny(n.Consumer, ". *>") {
		bad("broker.nats.consumer", "must be a consumer name without '.', ' ', '*' or '>'")
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		bad("broker.nats.replicas", "must be 1..5, got %d", n.Replicas)
	}
	if n.AckWait < time.Second {
		bad("broker.nats.ack_wait", "must be at least 1s, got %s", n.AckWait)
	}
}
