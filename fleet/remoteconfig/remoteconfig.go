// Package remoteconfig keeps versioned edge configs per office and shared
// templates with per-office values. Every version is validated with the
// edge's own validator (edge/config) before it is stored and pushed
// (retained) on the office's config topic; the edge validates again, applies
// and acks, and the desired and applied versions are kept side by side.
package remoteconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"text/template"
	"time"

	edgeconfig "github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/fleet/state"
	"github.com/polis-edge/polis/protocols/uplink"
)

const (
	bucketVersions  = "config_versions"  // office/%012d -> Version
	bucketState     = "config_state"     // office -> Status
	bucketTemplates = "config_templates" // name -> Template
)

// Version is one stored config of an office.
type Version struct {
	Office  string    `json:"office"`
	Version int64     `json:"version"`
	YAML    string    `json:"yaml"`
	Source  string    `json:"source"` // upload, or template:<name>
	User    string    `json:"user"`
	Time    time.Time `json:"time"`
}

// Status is desired vs applied for one office.
type Status struct {
	Office        string    `json:"office"`
	Desired       int64     `json:"desired"`
	Applied       int64     `json:"applied"`
	Outcome       string    `json:"outcome,omitempty"` // of the last ack: applied, refused or rolled_back
	Reason        string    `json:"reason,omitempty"`
	RestartNeeded []string  `json:"restart_needed,omitempty"`
	AckTime       time.Time `json:"ack_time,omitzero"`
}

// Template is a shared config with {{.Office.ID}}, {{.Office.Region}} and
// {{.Values.name}} placeholders (Go text/template).
type Template struct {
	Name    string    `json:"name"`
	Text    string    `json:"text"`
	User    string    `json:"user"`
	Updated time.Time `json:"updated"`
}

// Office is what a template sees of an office.
type Office struct {
	ID, Name, Comune, ISTAT, Province, Region string
}

// Publisher sends to the broker.
type Publisher interface {
	Publish(topic string, payload []byte, qos byte, retain bool) error
}

// Configs is safe for concurrent use; versions of one office are serialised
// by the store's Create (a racing second push gets the next number).
type Configs struct {
	st  state.Store
	pub Publisher
	log *slog.Logger
}

func New(st state.Store, pub Publisher, log *slog.Logger) *Configs {
	return &Configs{st: st, pub: pub, log: log}
}

// ErrInvalid wraps a config the edge validator refuses.
var ErrInvalid = errors.New("config does not validate")

// Validate runs the edge's own validator and checks the config is for office.
func Validate(office, yaml string) error {
	cfg, err := edgeconfig.Parse([]byte(yaml))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if cfg.Office.ID != office {
		return fmt.Errorf("%w: office.id is %q, not %q", ErrInvalid, cfg.Office.ID, office)
	}
	return nil
}

// Status returns desired vs applied.
func (c *Configs) Status(office string) (Status, error) {
	b, err := c.st.Get(bucketState, office)
	if errors.Is(err, state.ErrNotFound) {
		return Status{Office: office}, nil
	}
	if err != nil {
		return Status{}, err
	}
	var s Status
	return s, json.Unmarshal(b, &s)
}

func (c *Configs) putStatus(s Status) error {
	b, _ := json.Marshal(s)
	return c.st.Put(bucketState, s.Office, b)
}

// Push validates yaml, stores it as the office's next version and publishes it.
func (c *Configs) Push(office, yaml, source, user string) (Version, error) {
	if err := Validate(office, yaml); err != nil {
		return Version{}, err
	}
	s, err := c.Status(office)
	if err != nil {
		return Version{}, err
	}
	v := Version{Office: office, YAML: yaml, Source: source, User: user, Time: time.Now().UTC()}
	for v.Version = s.Desired + 1; ; v.Version++ {
		b, _ := json.Marshal(v)
		err := c.st.Create(bucketVersions, fmt.Sprintf("%s/%012d", office, v.Version), b)
		if err == nil {
			break
		}
		if !errors.Is(err, state.ErrExists) {
			return Version{}, err
		}
	}
	// Re-read: an ack may have landed meanwhile.
	if s, err = c.Status(office); err != nil {
		return Version{}, err
	}
	s.Office, s.Desired = office, max(s.Desired, v.Version)
	if err := c.putStatus(s); err != nil {
		return Version{}, err
	}
	payload, _ := json.Marshal(uplink.ConfigPush{Version: v.Version, YAML: yaml, User: user, Time: v.Time})
	if err := c.pub.Publish(uplink.Topic(office, uplink.KindConfig), payload, 1, true); err != nil {
		return v, fmt.Errorf("stored as version %d but not published: %w", v.Version, err)
	}
	return v, nil
}

// Versions lists an office's versions, newest first.
func (c *Configs) Versions(office string) ([]Version, error) {
	out := []Version{}
	err := c.st.Scan(bucketVersions, office+"/", "", func(_ string, b []byte) error {
		var v Version
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out, err
}

// Ack applies an edge's config/applied message and returns it with
// changed true when it is news (not the retained ack seen again).
func (c *Configs) Ack(office string, payload []byte) (a uplink.ConfigAck, changed bool) {
	if err := json.Unmarshal(payload, &a); err != nil || a.Version <= 0 {
		c.log.Warn("malformed config ack", "office", office, "err", err)
		return a, false
	}
	s, err := c.Status(office)
	if err != nil {
		c.log.Error("config status", "office", office, "err", err)
		return a, false
	}
	changed = s.AckTime.IsZero() || !s.AckTime.Equal(a.Time) || s.Outcome != a.Status
	s.Office = office
	switch a.Status {
	case uplink.ConfigApplied:
		s.Applied = a.Version
	case uplink.ConfigRolledBack: // the edge gave a.Version up: a.Running is in force again
		s.Applied = a.Running
	}
	s.Outcome, s.Reason, s.RestartNeeded, s.AckTime = a.Status, a.Reason, a.RestartNeeded, a.Time
	if err := c.putStatus(s); err != nil {
		c.log.Error("config status not stored", "office", office, "err", err)
	}
	return a, changed
}

// PutTemplate stores a template after checking it parses.
func (c *Configs) PutTemplate(name, text, user string) error {
	if name == "" || strings.ContainsAny(name, "/ ") {
		return errors.New("template name: non-empty, no spaces or slashes")
	}
	if _, err := template.New(name).Option("missingkey=error").Parse(text); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	b, _ := json.Marshal(Template{Name: name, Text: text, User: user, Updated: time.Now().UTC()})
	return c.st.Put(bucketTemplates, name, b)
}

// Templates lists the templates.
func (c *Configs) Templates() ([]Template, error) {
	out := []Template{}
	err := c.st.Scan(bucketTemplates, "", "", func(_ string, b []byte) error {
		var t Template
		if err := json.Unmarshal(b, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

// Render fills template name for office with values; a placeholder without
// a value is an error, never an empty string in a config.
func (c *Configs) Render(name string, o Office, values map[string]string) (string, error) {
	b, err := c.st.Get(bucketTemplates, name)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", name, err)
	}
	var t Template
	if err := json.Unmarshal(b, &t); err != nil {
		return "", err
	}
	tpl, err := template.New(name).Option("missingkey=error").Parse(t.Text)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := tpl.Execute(&out, map[string]any{"Office": o, "Values": values}); err != nil {
		return "", fmt.Errorf("render %s for %s: %w", name, o.ID, err)
	}
	return out.String(), nil
}
