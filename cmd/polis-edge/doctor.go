package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/polis-edge/polis/edge"
)

// runDoctor implements `polis-edge doctor -config edge.yaml [-json]`: every
// check an installer needs, one verdict each; exit 0 only when the office is
// ready (every check ok), 1 otherwise.
func runDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("polis-edge doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/polis/edge.yaml", "YAML config file")
	asJSON := fs.Bool("json", false, "print the checks as JSON")
	timeout := fs.Duration("timeout", 5*time.Second, "per network check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var checks []edge.Check
	cfg, err := load(*path)
	if err != nil {
		checks = []edge.Check{{Name: "config", Verdict: edge.CheckFail, Detail: err.Error()}}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		checks = edge.Doctor(ctx, cfg, edge.DoctorOptions{Timeout: *timeout})
	}
	ready := edge.Ready(checks)
	if *asJSON {
		json.NewEncoder(stdout).Encode(struct {
			Ready  bool         `json:"ready"`
			Checks []edge.Check `json:"checks"`
		}{ready, checks})
	} else {
		for _, c := range checks {
			fmt.Fprintf(stdout, "%-4s  %-22s %s\n", c.Verdict, c.Name, c.Detail)
		}
		if ready {
			fmt.Fprintln(stdout, "office ready")
		} else {
			fmt.Fprintln(stdout, "office NOT ready: fix the FAIL lines (skip: could not be checked) and run doctor again")
		}
	}
	if !ready {
		return 1
	}
	return 0
}
