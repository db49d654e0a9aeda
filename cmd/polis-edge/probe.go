package main

import (
	"io"

	"github.com/polis-edge/polis/protocols/modbus"
)

// runProbe implements `polis-edge probe modbus <url> [--unit N] [--template NAME] [--json]`.
// args start after "probe"; the logic lives in protocols/modbus so it is tested there.
func runProbe(args []string, stdout, stderr io.Writer) int {
	return modbus.RunProbe(args, stdout, stderr)
}
