package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/polis-edge/polis/rules/replay"
)

// runReplay: polis-sim replay [-day substring]. It runs the real rules
// against the reference office on the reference days, next to uncontrolled
// charging and an evcc-like loop, and prints the KPI table of
// docs/energy-rules.md.
func runReplay(args []string) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	only := fs.String("day", "", "run only the reference days whose name contains this")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var all []replay.KPI
	for _, d := range replay.RefDays() {
		if *only != "" && !strings.Contains(d.Name, *only) {
			continue
		}
		ks, err := replay.Compare(replay.RefOffice, d)
		if err != nil {
			fmt.Fprintln(os.Stderr, "replay:", err)
			return 1
		}
		all = append(all, ks...)
	}
	if len(all) == 0 {
		fmt.Fprintf(os.Stderr, "replay: no reference day matches %q\n", *only)
		return 2
	}
	replay.WriteTable(os.Stdout, all)
	return 0
}
