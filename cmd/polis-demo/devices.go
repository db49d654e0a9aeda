package main

import (
	"context"
	"log/slog"

	"github.com/polis-edge/polis/edge"
	edgeconfig "github.com/polis-edge/polis/edge/config"
)

// configureDevices points an office's drivers at its simulators.
func configureDevices(cfg *edgeconfig.Config, office string) error { return nil }

// runSimulators runs the simulated devices of one office until ctx is done.
func runSimulators(ctx context.Context, office string, d *edge.Daemon, log *slog.Logger) error {
	<-ctx.Done()
	return nil
}
