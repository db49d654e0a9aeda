package edge

import (
	"context"
	"errors"
	"log/slog"

	"github.com/polis-edge/polis/edge/config"
)

// ErrRestart is Run's answer when it stopped so that a remote config (or the
// rollback of one) takes effect: build the daemon again with New.
var ErrRestart = errors.New("restart to apply the remote config in force")

// Serve runs the office daemon for the local config site until ctx ends,
// building it again whenever it stops to apply or roll back a remote config:
// sections that cannot change at run time (drivers, uplink, HTTP) take effect
// by a restart inside the process, with the buffer and state.db reopened.
// started, if not nil, sees each daemon before it runs (lifecycle, SIGHUP).
func Serve(ctx context.Context, site config.Config, log *slog.Logger, version string, started func(*Daemon)) error {
	for {
		d, err := New(site, log, version)
		if err != nil {
			return err
		}
		if started != nil {
			started(d)
		}
		err = d.Run(ctx)
		if !errors.Is(err, ErrRestart) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Info("restarting the daemon with the remote config in force")
	}
}

// SetLogLevel hands the daemon the logger's level, so a remote config can
// change it at run time; call it before Run.
func (d *Daemon) SetLogLevel(level *slog.LevelVar) { d.level = level }

// Config is the config the daemon runs: the local file, or the remote
// config from the fleet in force.
func (d *Daemon) Config() config.Config { return d.cfg }

// RemoteVersion is the remote config version in force (0: the local file).
func (d *Daemon) RemoteVersion() int64 {
	return d.remoteState().Running
}
