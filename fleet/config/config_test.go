package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const base = `
influx:
  url: http://127.0.0.1:8086
  bucket: polis/autogen
offices:
  - {id: "10001", password: a, region: Lazio}
`

func TestParseRejectsBadConfigNamingTheKey(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", base + "colour: blue\n", "colour"},
		{"unknown nested key", "influx:\n  url: http://x:1\n  buckett: a\n", "buckett"},
		{"bad office id", "offices:\n  - {id: \"10 01\", password: a}\n", "offices[0].id"},
		{"wildcard office id", "offices:\n  - {id: \"+\", password: a}\n", "offices[0].id"},
		{"duplicate office", base + "  - {id: \"10001\", password: b}\n", "offices[1].id: duplicate office"},
		{"missing password", "offices:\n  - {id: \"10002\"}\n", "offices[0]: office 10002 needs password"},
		{"bad sha", "offices:\n  - {id: \"1\", password_sha256: zz}\n", "offices[0].password_sha256"},
		{"missing influx url", "influx:\n  url: \"\"\n", "influx.url: required"},
		{"influx url not http", "influx:\n  url: tcp://x:1\n", "influx.url"},
		{"bad mode", "broker:\n  mode: cloud\n", "broker.mode"},
		{"external without url", "broker:\n  mode: external\n", "broker.external.url"},
		{"tls without cert", "broker:\n  embedded:\n    tls: {listen: \":8883\"}\n", "broker.embedded.tls"},
		{"workers", "ingest:\n  workers: 0\n", "ingest.workers"},
		{"log level", "log:\n  level: loud\n", "log.level"},
		{"bad duration", "influx:\n  timeout: soon\n", "soon"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestParseAppliesDefaultsAndOfficesFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "offices.yaml"), []byte("- {id: \"20002\", password_sha256: \""+strings.Repeat("ab", 32)+"\", province: PR}\n"), 0o644)
	cfg, err := Parse([]byte(base+"offices_file: offices.yaml\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Offices) != 2 || cfg.Offices[1].ID != "20002" || cfg.Offices[1].Province != "PR" {
		t.Fatalf("offices = %+v", cfg.Offices)
	}
	if cfg.Broker.Mode != "embedded" || cfg.Ingest.Workers != 4 || cfg.HTTP.Listen != "127.0.0.1:8080" || cfg.Influx.Timeout == 0 {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	if _, err := Parse([]byte(base+"offices_file: missing.yaml\n"), dir); err == nil || !strings.Contains(err.Error(), "offices_file") {
		t.Fatalf("missing offices file: %v", err)
	}
	if err := func() error { c := Default(); return c.Validate() }(); err != nil {
		t.Fatalf("the embedded default config is invalid: %v", err)
	}
}
