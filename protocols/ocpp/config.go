package ocpp

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Config is the `ocpp:` section of the edge configuration.
type Config struct {
	Listen string `yaml:"listen"`
	Path   string `yaml:"path"`
	// SecurityProfile is 1 when unset: Basic auth with a password per
	// charger. 0 (no authentication) must be asked for, and only on a
	// loopback address unless ForceInsecure says otherwise.
	SecurityProfile *int `yaml:"security_profile"`
	// Listeners serve more security profiles besides Listen's, at once
	// (e.g. 1 on :8887, 2 on :8443, 3 on :8444); they share tls and path.
	Listeners           []ListenerConfig `yaml:"listeners"`
	ForceInsecure       bool             `yaml:"force_insecure"`
	ClockTolerance      time.Duration    `yaml:"clock_tolerance"`
	TLS                 TLSConfig        `yaml:"tls"`
	AllowUnknown        bool             `yaml:"allow_unknown_chargers"`
	UnknownChargerBoot  string           `yaml:"unknown_charger_boot"`
	HeartbeatInterval   time.Duration    `yaml:"heartbeat_interval"`
	MeterSampleInterval time.Duration    `yaml:"meter_sample_interval"`
	CommandTimeout      time.Duration    `yaml:"command_timeout"`
	PingInterval        time.Duration    `yaml:"ping_interval"`
	MaxMessageBytes     int64            `yaml:"max_message_bytes"`
	RateLimit           RateLimitConfig  `yaml:"rate_limit"`
	Chargers            []ChargerConfig  `yaml:"chargers"`
	Auth                AuthConfig       `yaml:"auth"`
}

// ListenerConfig is one more listener and the security profile it serves.
type ListenerConfig struct {
	Listen          string `yaml:"listen"`
	SecurityProfile int    `yaml:"security_profile"`
}

// TLSConfig holds PEM file paths for security profiles 2 and 3.
type TLSConfig struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
}

// RateLimitConfig bounds how many frames per second one charger may send.
// Excess frames are not dropped: reading pauses, so TCP pushes back on the
// flooding charger while everyone else keeps their share of the CPU.
type RateLimitConfig struct {
	MessagesPerSecond float64 `yaml:"messages_per_second"`
	Burst             int     `yaml:"burst"`
}

// ChargerConfig is one known charge point.
type ChargerConfig struct {
	ID         string `yaml:"id"`
	Password   string `yaml:"password"`
	Connectors int    `yaml:"connectors"`
	// SecurityProfile is the lowest profile the charger may connect with
	// (0: any listener). A charger moved to profile 3 is then refused on
	// the profile 1 listener, so a leaked password cannot stand in for it.
	SecurityProfile int `yaml:"security_profile"`
}

// AuthConfig is the local idTag list and the policy for unknown tags.
type AuthConfig struct {
	UnknownTags string      `yaml:"unknown_tags"`
	Tags        []TagConfig `yaml:"tags"`
}

// TagConfig is one RFID tag (idTag / idToken).
type TagConfig struct {
	ID        string `yaml:"id" json:"id"`
	Group     string `yaml:"group" json:"group"`
	Departure string `yaml:"departure" json:"departure,omitempty"` // HH:MM, fleet vans only
	// Status is Accepted (default), Blocked, Expired, Invalid or
	// ConcurrentTx; an Accepted tag past Expiry answers Expired.
	Status string    `yaml:"status" json:"status,omitempty"`
	Expiry time.Time `yaml:"expiry" json:"expiry,omitzero"`
	// Parent is the group token (1.6 parentIdTag, 2.0.1 groupIdToken) that
	// lets a charger authorise the group locally (Master Pass, C47-C49).
	Parent  string `yaml:"parent" json:"parent,omitempty"`
	Deleted bool   `yaml:"-" json:"deleted,omitempty"`
}

// Tag groups the rules know about.
const (
	GroupFleet  = "fleet"
	GroupPublic = "public"
)

// Unknown-tag policies.
const (
	UnknownReject       = "reject"
	UnknownAccept       = "accept"
	UnknownAcceptPublic = "accept_public"
)

// Profile returns a security profile number for Config.SecurityProfile.
func Profile(n int) *int { return &n }

// listeners are every listen address with its profile, Listen's first.
func (c *Config) listeners() []ListenerConfig {
	return append([]ListenerConfig{{Listen: c.Listen, SecurityProfile: c.profile()}}, c.Listeners...)
}

// profiles says which security profiles some listener serves.
func (c *Config) profiles() (has [4]bool) {
	for _, l := range c.listeners() {
		if l.SecurityProfile >= 0 && l.SecurityProfile <= 3 {
			has[l.SecurityProfile] = true
		}
	}
	return has
}

// profile is the security profile in force (1 when unset).
func (c *Config) profile() int {
	if c.SecurityProfile == nil {
		return 1
	}
	return *c.SecurityProfile
}

// DefaultClockTolerance is how far in the future a charger's timestamp may
// be before the edge stops trusting it (SHARED-APIS #5).
const DefaultClockTolerance = 5 * time.Minute

// Defaults fills unset keys.
func (c *Config) ApplyDefaults() {
	if c.SecurityProfile == nil {
		c.SecurityProfile = Profile(1)
	}
	if c.ClockTolerance == 0 {
		c.ClockTolerance = DefaultClockTolerance
	}
	if c.Listen == "" {
		c.Listen = "0.0.0.0:8887"
	}
	if c.Path == "" {
		c.Path = "/ocpp"
	}
	if c.UnknownChargerBoot == "" {
		c.UnknownChargerBoot = "pending"
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 300 * time.Second
	}
	if c.MeterSampleInterval == 0 {
		c.MeterSampleInterval = 10 * time.Second
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = 10 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 64 << 10
	}
	if c.RateLimit.MessagesPerSecond == 0 {
		c.RateLimit.MessagesPerSecond = 20
	}
	if c.RateLimit.Burst == 0 {
		c.RateLimit.Burst = 100
	}
	if c.Auth.UnknownTags == "" {
		c.Auth.UnknownTags = UnknownReject
	}
	for i := range c.Chargers {
		if c.Chargers[i].Connectors == 0 {
			c.Chargers[i].Connectors = 1
		}
	}
}

// Validate checks the config and names the offending key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("ocpp.%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "must be host:port: %v", err)
	}
	if !strings.HasPrefix(c.Path, "/") {
		bad("path", "must start with /")
	}
	addrs := map[string]bool{}
	for i, l := range c.listeners() {
		key := "security_profile"
		if i > 0 {
			key = fmt.Sprintf("listeners[%d]", i-1)
			if _, _, err := net.SplitHostPort(l.Listen); err != nil {
				bad(key+".listen", "must be host:port: %v", err)
			}
			if addrs[l.Listen] && !strings.HasSuffix(l.Listen, ":0") {
				bad(key+".listen", "%s is already used by another listener", l.Listen)
			}
			key += ".security_profile"
		}
		addrs[l.Listen] = true
		if l.SecurityProfile < 0 || l.SecurityProfile > 3 {
			bad(key, "must be 0, 1, 2 or 3")
		}
		if l.SecurityProfile == 0 && !c.ForceInsecure && !loopback(l.Listen) {
			bad(key, "0 (no authentication) is only allowed on a loopback listen address; use 1 with a password per charger, or set force_insecure: true")
		}
	}
	has := c.profiles()
	if c.ClockTolerance < 0 {
		bad("clock_tolerance", "must be >= 0")
	}
	if (has[2] || has[3]) && (c.TLS.Cert == "" || c.TLS.Key == "") {
		bad("tls", "cert and key are required for security profiles 2 and 3")
	}
	if has[3] && c.TLS.ClientCA == "" {
		bad("tls.client_ca", "required for security profile 3 (mutual TLS)")
	}
	switch c.UnknownChargerBoot {
	case "pending", "rejected", "accepted":
	default:
		bad("unknown_charger_boot", "must be pending, rejected or accepted")
	}
	if c.HeartbeatInterval < time.Second {
		bad("heartbeat_interval", "must be at least 1s")
	}
	if c.MeterSampleInterval < time.Second {
		bad("meter_sample_interval", "must be at least 1s")
	}
	if c.MaxMessageBytes < 1024 {
		bad("max_message_bytes", "must be at least 1024")
	}
	if c.RateLimit.MessagesPerSecond < 0 || c.RateLimit.Burst < 1 {
		bad("rate_limit", "messages_per_second must be >= 0 and burst >= 1")
	}
	seen := map[string]bool{}
	for i, ch := range c.Chargers {
		key := fmt.Sprintf("chargers[%d]", i)
		if !validChargerID(ch.ID) {
			bad(key+".id", "must be 1-48 characters without '/'")
		}
		if seen[ch.ID] {
			bad(key+".id", "duplicate %q", ch.ID)
		}
		seen[ch.ID] = true
		if ch.SecurityProfile < 0 || ch.SecurityProfile > 3 {
			bad(key+".security_profile", "must be 0-3")
		} else if ch.SecurityProfile > 0 && !slices.ContainsFunc(c.listeners(), func(l ListenerConfig) bool { return l.SecurityProfile >= ch.SecurityProfile }) {
			bad(key+".security_profile", "no listener serves profile %d or higher", ch.SecurityProfile)
		}
		if (has[1] && ch.SecurityProfile <= 1 || has[2] && ch.SecurityProfile <= 2) && len(ch.Password) < 16 {
			bad(key+".password", "at least 16 characters required by security profiles 1 and 2 (OCPP 1.6 security whitepaper)")
		}
		if ch.Connectors < 1 || ch.Connectors > 16 {
			bad(key+".connectors", "must be 1-16")
		}
	}
	switch c.Auth.UnknownTags {
	case UnknownReject, UnknownAccept, UnknownAcceptPublic:
	default:
		bad("auth.unknown_tags", "must be reject, accept or accept_public")
	}
	tags := map[string]bool{}
	for i, t := range c.Auth.Tags {
		key := fmt.Sprintf("auth.tags[%d]", i)
		if err := t.validate(); err != nil {
			switch {
			case strings.Contains(err.Error(), "departure"):
				bad(key+".departure", "%v", err)
			case strings.Contains(err.Error(), "group"):
				bad(key+".group", "%v", err)
			case strings.Contains(err.Error(), "status"):
				bad(key+".status", "%v", err)
			default:
				bad(key+".id", "%v", err)
			}
		}
		if tags[strings.ToUpper(t.ID)] {
			bad(key+".id", "duplicate %q", t.ID)
		}
		tags[strings.ToUpper(t.ID)] = true
	}
	return errors.Join(errs...)
}

func validChargerID(id string) bool {
	return id != "" && len(id) <= 48 && !strings.ContainsAny(id, "/?# ")
}

// loopback reports whether a listen address only accepts local peers.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
