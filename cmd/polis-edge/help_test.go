package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelpCoversEverySubcommand: --help lists every command the binary
// dispatches, and each listed command is one it knows.
func TestHelpCoversEverySubcommand(t *testing.T) {
	for _, flag := range []string{"help", "-h", "--help"} {
		var out, errb bytes.Buffer
		if code := run([]string{flag}, &out, &errb); code != 0 || out.String() != usage {
			t.Fatalf("%s: exit %d, %q", flag, code, errb.String())
		}
	}
	for _, cmd := range []string{"[run]", "validate", "doctor", "probe modbus", "probe ocpp", "probe mqtt", "version", "help"} {
		if !strings.Contains(usage, "  polis-edge "+cmd) {
			t.Errorf("usage lacks %q", cmd)
		}
	}
	// Every subcommand is dispatched (its own -h answers, no "unknown").
	for _, args := range [][]string{{"validate", "-h"}, {"doctor", "-h"}, {"probe", "ocpp", "-h"}, {"probe", "mqtt", "-h"}, {"probe", "modbus", "-h"}} {
		var out, errb bytes.Buffer
		run(args, &out, &errb)
		if strings.Contains(errb.String(), "unknown") {
			t.Errorf("%v: %s", args, errb.String())
		}
	}
}

// TestDoctorExitCode: the binary's doctor says not ready (exit 1) for an
// office whose uplink is off and whose config is the packaged placeholder.
func TestDoctorExitCode(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"doctor", "-config", "../polis-pkg/files/edge.yaml", "-timeout", "1s"}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "office NOT ready") || !strings.Contains(out.String(), "placeholder") {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
}
