// Command polis-edge is the office daemon. See README.md, docs/edge.md and
// docs/install.md; `polis-edge help` lists every subcommand (usage below).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"sync/atomic"
	"syscall"

	"github.com/polis-edge/polis/cmd/internal/cpuprofile"
	"github.com/polis-edge/polis/edge"
	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/sdnotify"
)

const usage = `usage: polis-edge <command> [flags]

  polis-edge [run] [-config FILE]
        run the office daemon (no -config: embedded demo defaults). Under
        systemd (Type=notify) it reports READY/STOPPING and feeds the watchdog.
        SIGHUP reloads the config file. -cpuprofile OUT also writes a CPU
        profile of the run to OUT (go tool pprof OUT).
  polis-edge validate -config FILE
        check a config file and exit (0 valid, 1 invalid: every bad key named)
  polis-edge doctor [-config /etc/polis/edge.yaml] [-json] [-timeout 5s]
        every check an installer needs: config, clock synchronised, disk space
        for the buffer, fleet reachable and credentials accepted, ports free,
        each configured device answering. Exit 0 only when the office is ready.
  polis-edge probe modbus URL [-unit N] [-template NAME] [-json]
        read a Modbus device once (SunSpec discovery, or a template)
  polis-edge probe ocpp [-listen 0.0.0.0:8887] [-path /ocpp] [-tls-cert F -tls-key F [-client-ca F]] [-calls N]
        listen as the edge would and show what a charger sends: its id, OCPP
        versions offered, security profile tried, every frame
  polis-edge probe mqtt -device ID [-config FILE] [-listen ADDR | -broker URL -user U -password P] [-messages N]
        show a device's raw payloads and the fields our mapping extracts
  polis-edge version
        print the version
  polis-edge help
        this text

Each command prints its own flags with -h. Documentation: docs/install.md,
docs/edge.md, docs/modbus.md, docs/ocpp.md, docs/mqtt.md.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && slices.Contains([]string{"-h", "-help", "--help"}, args[0]) {
		cmd = "help"
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version":
		fmt.Fprintln(stdout, "polis-edge", version)
		return 0
	case "probe":
		return runProbe(args, stdout, stderr)
	case "doctor":
		return runDoctor(args, stdout, stderr)
	case "validate", "run":
	default:
		fmt.Fprintf(stderr, "polis-edge: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	fs := flag.NewFlagSet("polis-edge "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file (empty: embedded defaults)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (diagnosing load)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := load(*path)
	if err != nil {
		fmt.Fprintln(stderr, "polis-edge:", err)
		return 1
	}
	if cmd == "validate" {
		fmt.Fprintf(stdout, "%s: ok (office %s)\n", displayPath(*path), cfg.Office.ID)
		return 0
	}
	if *cpuProfile != "" {
		stopProfile, err := cpuprofile.Start(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "polis-edge:", err)
			return 1
		}
		defer stopProfile()
	}
	return daemon(cfg, *path, stderr)
}

func load(path string) (config.Config, error) {
	if path == "" {
		cfg := config.Default()
		return cfg, cfg.Validate()
	}
	return config.Load(path)
}

func displayPath(p string) string {
	if p == "" {
		return "(embedded defaults)"
	}
	return p
}

func daemon(cfg config.Config, path string, stderr io.Writer) int {
	level := new(slog.LevelVar)
	level.Set(cfg.SlogLevel())
	log := newLogger(cfg.Log.Format, level, stderr)
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Serve builds the daemon again to apply a remote config: SIGHUP goes
	// to the one running.
	var cur atomic.Pointer[edge.Daemon]
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if d := cur.Load(); d != nil {
				reload(d, path, level, log)
			}
		}
	}()
	lc := sdnotify.FromEnv(log)
	err := edge.Serve(ctx, cfg, log, version, func(d *edge.Daemon) {
		d.SetLifecycle(lc)
		d.SetLogLevel(level)
		if d.RemoteVersion() != 0 {
			level.Set(d.Config().SlogLevel())
		}
		cur.Store(d)
	})
	if err != nil {
		log.Error("stopped with error", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func reload(d *edge.Daemon, path string, level *slog.LevelVar, log *slog.Logger) {
	if path == "" {
		log.Info("SIGHUP: running on embedded defaults, nothing to reload")
		return
	}
	next, err := config.Load(path)
	if err != nil {
		log.Error("SIGHUP: config rejected, keeping the running one", "err", err)
		return
	}
	if changed := d.Reload(next, level); len(changed) > 0 {
		log.Warn("SIGHUP: log settings applied; these sections changed and need a restart", "sections", changed)
		return
	}
	log.Info("SIGHUP: config reloaded", "log_level", next.Log.Level)
}

func newLogger(format string, level *slog.LevelVar, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
