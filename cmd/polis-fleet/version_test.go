package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// `make build` stamps the fleet's version: the link flags the Makefile
// passes must reach fleet.Version (polis-fleet once printed "dev" whatever
// was built, since only main.version was set).
func TestMakeBuildStampsFleetVersion(t *testing.T) {
	out, err := exec.Command("make", "-n", "-C", "../..", "build", "VERSION=v9.8.7-test").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`-ldflags "([^"]*)"`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no -ldflags in make build:\n%s", out)
	}
	bin := filepath.Join(t.TempDir(), "polis-fleet")
	if out, err := exec.Command("go", "build", "-ldflags", string(m[1]), "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	got, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != "polis-fleet v9.8.7-test" {
		t.Fatalf("polis-fleet version = %q, want the version make build stamps", got)
	}
}
