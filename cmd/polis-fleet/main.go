// Command polis-fleet is the central Polis service: MQTT ingest of office
// telemetry into InfluxDB, office health and alarms, HTTP API and dashboard.
//
//	polis-fleet [-config fleet.yaml]     run (no -config: built-in demo defaults)
//	polis-fleet validate -config f.yaml  check a config file and exit
//	polis-fleet version
//	polis-fleet user add|passwd|del|list|token ...  manage users (see user.go)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/polis-edge/polis/cmd/internal/cpuprofile"
	"github.com/polis-edge/polis/fleet"
	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/sdnotify"
)

const usage = `usage: polis-fleet <command> [flags]

  polis-fleet [run] [-config FILE]
        run the central service (no -config: built-in demo configuration).
        Under systemd (Type=notify) it reports READY/STOPPING and feeds the
        watchdog. SIGHUP reloads the office list. -cpuprofile OUT also writes
        a CPU profile of the run to OUT (go tool pprof OUT).
  polis-fleet validate -config FILE
        check a config file and exit
  polis-fleet version
        print the version
  polis-fleet user add|passwd|del|list|token ...
        manage dashboard/API users in the state file (polis-fleet user: details)
  polis-fleet help
        this text

Documentation: docs/install.md, docs/fleet.md, docs/influxdb-retention.md.
`

func main() {
	args := os.Args[1:]
	var err error
	if len(args) == 0 || args[0] == "run" || strings.HasPrefix(args[0], "-") {
		keepStacks() // running the service: with the runtime setting it is measured with
	}
	if len(args) > 0 && args[0] == "user" {
		err = userCmd(args[1:], os.Stdin, os.Stdout, os.Stderr)
	} else {
		err = run(args, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "polis-fleet:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && (args[0] == "validate" || args[0] == "version" || args[0] == "run") {
		cmd, args = args[0], args[1:]
	}
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stdout, usage)
		return nil
	}
	fs := flag.NewFlagSet("polis-fleet "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file (default: built-in demo configuration)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (diagnosing load)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "polis-fleet", fleet.Version)
		return nil
	case "validate":
		if *path == "" {
			return errors.New("validate: -config is required")
		}
		cfg, err := config.Load(*path)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok (%s broker, %d offices)\n", *path, cfg.Broker.Mode, len(cfg.Offices))
		return nil
	}
	cfg, err := load(*path)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	if *path == "" {
		log.Warn("no -config given: running with the built-in demo configuration and no offices")
	}
	f, err := fleet.New(cfg, log)
	if err != nil {
		return err
	}
	f.SetLifecycle(sdnotify.FromEnv(log))
	if *cpuProfile != "" {
		stopProfile, err := cpuprofile.Start(*cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go reloadOnHUP(ctx, f, *path, log)
	return f.Run(ctx)
}

func load(path string) (config.Config, error) {
	if path == "" {
		cfg := config.Default()
		return cfg, cfg.Validate()
	}
	return config.Load(path)
}

// reloadOnHUP re-reads the file on SIGHUP. A bad file is logged and ignored:
// the running configuration stays in force.
func reloadOnHUP(ctx context.Context, f *fleet.Fleet, path string, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if path == "" {
			log.Warn("SIGHUP: no config file to reload")
			continue
		}
		cfg, err := config.Load(path)
		if err == nil {
			err = f.Reload(cfg)
		}
		if err != nil {
			log.Error("SIGHUP: reload failed, keeping the running configuration", "err", err)
		}
	}
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
