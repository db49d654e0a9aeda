package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/polis-edge/polis/protocols/fleetsim"
)

// runFleet is `polis-sim fleet`: thousands of simulated offices, each a real
// MQTT connection speaking the uplink protocol to a polis-fleet.
func runFleet(args []string) int {
	fs := flag.NewFlagSet("polis-sim fleet", flag.ExitOnError)
	offices := fs.Int("offices", 100, "how many offices")
	first := fs.Int("first", 10000, "first office id (5 digits)")
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "the fleet's MQTT listener")
	password := fs.String("password", "sim", "password of every simulated office")
	registry := fs.String("registry", "", "write the fleet's offices_file for these offices here, then exit")
	duration := fs.Duration("duration", 0, "stop after this long (0: until Ctrl-C)")
	report := fs.Duration("report", 10*time.Second, "print a JSON report this often")
	rate := fs.Int("connect-rate", 500, "new connections per second")
	qos := fs.Int("qos", 1, "MQTT QoS of batches and acks, as the edge's uplink.qos (0 on a NATS cluster)")
	live := fs.Duration("live-interval", time.Second, "how often each office sends what it measured, as the edge's uplink.live_interval")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: polis-sim fleet [flags]\n\nSimulates offices against a polis-fleet (see docs/benchmarks.md). Flags:\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if *qos != 0 && *qos != 1 {
		fmt.Fprintln(os.Stderr, "-qos must be 0 or 1")
		return 2
	}
	cfg := fleetsim.Config{Broker: *broker, Offices: *offices, FirstOffice: *first, ConnectRate: *rate, QoS0: *qos == 0, Flush: *live,
		Password: func(string) string { return *password },
		Log:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if *registry != "" {
		f, err := os.Create(*registry)
		if err == nil {
			err = fleetsim.WriteRegistry(f, cfg)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "registry:", err)
			return 1
		}
		fmt.Printf("wrote %d offices to %s (fleet config: offices_file: %s)\n", *offices, *registry, *registry)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	fmt.Fprintf(os.Stderr, "%d offices → %s, %.1f lines/s each\n", *offices, *broker, fleetsim.ReferenceMix.LinesPerSecond())
	sim := fleetsim.Start(ctx, cfg)
	enc := json.NewEncoder(os.Stdout)
	t := time.NewTicker(*report)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sim.Wait()
			enc.Encode(sim.Report())
			return 0
		case <-t.C:
			enc.Encode(sim.Report())
		}
	}
}
