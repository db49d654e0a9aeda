package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateAndVersion(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("offices:\n  - {id: \"10001\", password: x}\n"), 0o644)
	os.WriteFile(bad, []byte("influx:\n  url: \"\"\nofices: []\n"), 0o644)

	var out, errb bytes.Buffer
	if err := run([]string{"validate", "-config", good}, &out, &errb); err != nil || !strings.Contains(out.String(), "ok (embedded broker, 1 offices)") {
		t.Fatalf("validate good: %v %q", err, out.String())
	}
	err := run([]string{"validate", "-config", bad}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "ofices") {
		t.Fatalf("validate bad: %v", err)
	}
	out.Reset()
	if err := run([]string{"version"}, &out, &errb); err != nil || !strings.HasPrefix(out.String(), "polis-fleet ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
}
