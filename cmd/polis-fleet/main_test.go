package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polis-edge/polis/fleet/state"
	"github.com/polis-edge/polis/fleet/users"
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

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	user := func(stdin string, args ...string) error {
		out.Reset()
		return userCmd(args, strings.NewReader(stdin), &out, &errb)
	}
	if err := user("basilicata-pw-1\n", "add", "-data-dir", dir, "-role", "operator", "-region", "Basilicata", "-provinces", "PZ,MT", "anna"); err != nil {
		t.Fatal(err)
	}
	if err := user("x\n", "add", "-data-dir", dir, "-role", "operator", "bob"); err == nil {
		t.Fatal("a 1-character password was accepted")
	}
	if err := user("another-pw-22\n", "add", "-data-dir", dir, "-role", "operator", "anna"); err == nil {
		t.Fatal("a duplicate user was accepted")
	}
	if err := user("", "list", "-data-dir", dir); err != nil || !strings.Contains(out.String(), "anna\toperator\tprovinces PZ,MT") {
		t.Fatalf("list: %v %q", err, out.String())
	}
	// The password stored is the one given, and passwd changes it.
	check := func(pw string) error {
		st, err := state.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, err = users.New(st).Authenticate("anna", pw)
		return err
	}
	if err := check("basilicata-pw-1"); err != nil {
		t.Fatal(err)
	}
	if err := user("basilicata-pw-2\n", "passwd", "-data-dir", dir, "anna"); err != nil {
		t.Fatal(err)
	}
	if check("basilicata-pw-1") == nil || check("basilicata-pw-2") != nil {
		t.Fatal("passwd did not replace the password")
	}
	if err := user("", "del", "-data-dir", dir, "anna"); err != nil {
		t.Fatal(err)
	}
	if check("basilicata-pw-2") == nil {
		t.Fatal("deleted user still signs in")
	}
	if err := user("", "del", "-data-dir", dir, "anna"); err == nil {
		t.Fatal("deleting an unknown user succeeded")
	}
}

func TestHelpCoversEverySubcommand(t *testing.T) {
	for _, flag := range []string{"help", "-h", "--help"} {
		var out, errb bytes.Buffer
		if err := run([]string{flag}, &out, &errb); err != nil || out.String() != usage {
			t.Fatalf("%s: %v", flag, err)
		}
	}
	for _, cmd := range []string{"[run]", "validate", "version", "user add|passwd|del|list|token", "help"} {
		if !strings.Contains(usage, "  polis-fleet "+cmd) {
			t.Errorf("usage lacks %q", cmd)
		}
	}
}
