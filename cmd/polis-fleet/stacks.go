package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// noStackShrink is the runtime setting the fleet runs with.
//
// Why: the embedded broker keeps goroutines for every connected office.
// Between packets they wait on a shallow stack, and every GC halves a stack
// that uses under a quarter of its size; the next packet (mochi passes its
// ~800-byte Packet by value through a dozen frames) grows it back, copying
// the stack and walking every frame again. With 7,000 offices on one box,
// turning that churn off took the fleet from 40–44 % to 35–38 % of a core in
// the steady state and its RSS from 630–675 MB to 525–550 MB (the runs are in
// docs/benchmarks.md, "Fleet at full size"). A stack that grew stays
// grown while its goroutine lives (a connection's, about 32 KB).
const noStackShrink = "gcshrinkstackoff=1"

// keepStacks re-executes polis-fleet in place (same PID, arguments and
// environment, so systemd's notify socket and watchdog are untouched) with
// noStackShrink added to GODEBUG. The runtime reads its stack settings only
// from the environment at start, and a //go:debug directive refuses this one,
// hence the exec. A GODEBUG that already sets gcshrinkstackoff is the
// operator's choice and is left alone; if the exec fails, the fleet runs on
// with the runtime's default.
func keepStacks() {
	env, ok := stackEnv(os.Environ())
	if !ok {
		return
	}
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, env) // returns only on failure
	}
	fmt.Fprintf(os.Stderr, "polis-fleet: running with the runtime's stack shrinking on (re-exec with GODEBUG=%s: %v)\n", noStackShrink, err)
}

// stackEnv returns environ with noStackShrink added to GODEBUG, and false if
// GODEBUG already sets gcshrinkstackoff.
func stackEnv(environ []string) ([]string, bool) {
	out := make([]string, 0, len(environ)+1)
	godebug := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v
			continue
		}
		out = append(out, kv)
	}
	for _, setting := range strings.Split(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(setting), "gcshrinkstackoff=") {
			return environ, false
		}
	}
	if godebug != "" {
		godebug += ","
	}
	return append(out, "GODEBUG="+godebug+noStackShrink), true
}
