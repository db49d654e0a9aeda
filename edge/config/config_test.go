package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDefaultsAndOverrides(t *testing.T) {
	cfg, err := Parse([]byte(`
office: {id: "12345", name: Montecopiolo}
buffer: {max_bytes: 64MiB, commit_interval: 500ms}
uplink: {url: "ssl://fleet.example:8883", backlog_rate: 0, live_interval: 5s}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Office.ID != "12345" || cfg.Buffer.MaxBytes != 64<<20 || cfg.Buffer.CommitInterval != 500*time.Millisecond {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	if cfg.Uplink.BacklogRate != 0 || cfg.Uplink.LiveInterval != 5*time.Second || cfg.Uplink.Window != Default().Uplink.Window {
		t.Fatalf("defaults lost for keys not in the file: %+v", cfg.Uplink)
	}
}

func TestParseEmptyFileIsDefaults(t *testing.T) {
	cfg, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Office.ID != Default().Office.ID {
		t.Fatalf("got %+v", cfg.Office)
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key names the line", "office: {id: '1'}\nbuffr: {}\n", "line 2: field buffr not found"},
		{"unknown nested key", "uplink: {urll: x}\n", "field urll not found"},
		{"bad office id", "office: {id: 'a/b'}\n", "office.id"},
		{"bad log level", "log: {level: loud}\n", "log.level"},
		{"bad log format", "log: {format: xml}\n", "log.format"},
		{"tiny buffer", "buffer: {max_bytes: 10KiB}\n", "buffer.max_bytes"},
		{"bad size", "buffer: {max_bytes: lots}\n", "bad size"},
		{"commit window too long", "buffer: {commit_interval: 5s}\n", "buffer.commit_interval"},
		{"url without scheme", "uplink: {url: 'fleet:1883'}\n", "uplink.url"},
		{"password twice", "uplink: {password: a, password_file: b}\n", "uplink.password_file"},
		{"cert without key", "uplink: {cert_file: a.pem}\n", "uplink.cert_file"},
		{"window", "uplink: {window: 0}\n", "uplink.window"},
		{"qos", "uplink: {qos: 2}\n", "uplink.qos"},
		{"backoff order", "uplink: {reconnect_min: 10s, reconnect_max: 1s}\n", "uplink.reconnect_max"},
		{"negative rate", "uplink: {backlog_rate: -1}\n", "uplink.backlog_rate"},
		{"live interval too short", "uplink: {live_interval: 10ms}\n", "uplink.live_interval"},
		{"telemetry interval", "telemetry: {interval: 10ms}\n", "telemetry.interval"},
		{"size that wraps", "buffer: {max_bytes: 17179869185GiB}\n", "too large"},
		{"mqtt payload that wraps", "mqtt: {limits: {max_payload: 17179869185GiB}}\n", "too large"},
		{"mqtt payload above a packet", "mqtt: {limits: {max_payload: 1GiB}}\n", "mqtt.limits.max_payload"},
		{"second document", "office: {id: '1'}\n---\noffice: {id: '2'}\n", "line 2: a second YAML document"},
		{"mqtt listen nonsense", "mqtt: {listen: nonsense}\n", "mqtt.listen"},
		{"mqtt tls listen", "mqtt: {tls: {listen: ':x', cert: a, key: b}}\n", "mqtt.tls.listen"},
		{"http listen", "http: {listen: 'localhost'}\n", "http.listen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want error containing %q, got %v", c.want, err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte("office: {id: ''}\nlog: {level: loud}\n"))
	if err == nil || !strings.Contains(err.Error(), "office.id") || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("want both keys named, got %v", err)
	}
}

func TestDisabledUplinkSkipsItsChecks(t *testing.T) {
	if _, err := Parse([]byte("uplink: {enabled: false, url: nonsense}\n")); err != nil {
		t.Fatal(err)
	}
}

func TestLoadResolvesPathsAgainstTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.yaml")
	os.WriteFile(path, []byte("data_dir: data\nuplink: {ca_file: ca.pem}\n"), 0o600)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != filepath.Join(dir, "data") || cfg.Uplink.CAFile != filepath.Join(dir, "ca.pem") {
		t.Fatalf("paths not resolved: %q %q", cfg.DataDir, cfg.Uplink.CAFile)
	}
	if cfg.BufferPath() != filepath.Join(dir, "data", "buffer.db") {
		t.Fatalf("buffer path %q", cfg.BufferPath())
	}
}

func TestDiffNamesSectionsNeedingRestart(t *testing.T) {
	a := Default()
	b := Default()
	b.Log.Level = "debug"
	if d := Diff(a, b); len(d) != 0 {
		t.Fatalf("log changes are applied live, got %v", d)
	}
	b.Uplink.URL = "tcp://other:1883"
	b.Buffer.MaxBytes *= 2
	d := Diff(a, b)
	if strings.Join(d, ",") != "buffer,uplink" {
		t.Fatalf("got %v", d)
	}
}

// The example configs an installer starts from must stay valid.
func TestTestdataConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/edge/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example configs in testdata/edge")
	}
	for _, f := range files {
		cfg, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if cfg.Modbus == nil || cfg.OCPP == nil || cfg.MQTT == nil {
			t.Errorf("%s: example lacks a device section", f)
		}
	}
}
