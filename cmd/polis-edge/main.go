// Command polis-edge is the office daemon. See README.md and docs/edge.md.
//
//	polis-edge [-config edge.yaml]            run the daemon
//	polis-edge validate -config edge.yaml     check a config and exit
//	polis-edge version                        print the version
//	polis-edge probe modbus <url> [...]       read a device as an installer would
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/polis-edge/polis/edge"
	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/sdnotify"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "polis-edge", version)
		return 0
	case "probe":
		return runProbe(args, stdout, stderr)
	case "validate", "run":
	default:
		fmt.Fprintf(stderr, "polis-edge: unknown command %q (want run, validate, version, probe)\n", cmd)
		return 2
	}
	fs := flag.NewFlagSet("polis-edge "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file (empty: embedded defaults)")
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

	d, err := edge.New(cfg, log, version)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	d.SetLifecycle(sdnotify.FromEnv(log))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			reload(d, path, level, log)
		}
	}()
	if err := d.Run(ctx); err != nil {
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
