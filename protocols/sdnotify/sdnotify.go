// Package sdnotify tells systemd about a daemon's lifecycle (sd_notify(3)):
// READY=1 once it serves, WATCHDOG=1 from the loop that proves it is alive,
// STOPPING=1 when it shuts down. Outside systemd (no NOTIFY_SOCKET) every call
// is a no-op, so the daemons call it unconditionally.
//
// The watchdog is only worth having if the pings come from code that stops
// when the daemon is wedged, so this package never pings on its own: the
// daemon's supervision loop calls Alive after each successful liveness check,
// at the pace Interval gives.
package sdnotify

import (
	"log/slog"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends lifecycle notifications. A nil *Notifier is valid and does nothing.
type Notifier struct {
	socket   string
	watchdog time.Duration
	log      *slog.Logger
}

// FromEnv reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID as systemd sets
// them for a Type=notify unit. It returns nil when there is no socket.
func FromEnv(log *slog.Logger) *Notifier {
	socket := os.Getenv("NOTIFY_SOCKET")
	if socket == "" {
		return nil
	}
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog settings unreadable, running without watchdog", "err", err)
		wd = 0
	}
	return &Notifier{socket: socket, watchdog: wd, log: log}
}

// Interval is how often the supervision loop should check liveness and call
// Alive: a third of WatchdogSec, so one slow check does not get the service
// killed. Zero when systemd runs no watchdog for this service.
func (n *Notifier) Interval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog / 3
}

// Ready says the service is serving (READY=1).
func (n *Notifier) Ready() { n.send(daemon.SdNotifyReady) }

// Stopping says shutdown has begun (STOPPING=1), so systemd does not treat the
// time it takes as a hang.
func (n *Notifier) Stopping() { n.send(daemon.SdNotifyStopping) }

// Alive resets the watchdog timer (WATCHDOG=1).
func (n *Notifier) Alive() { n.send(daemon.SdNotifyWatchdog) }

// Status sets the one-line status systemctl status shows.
func (n *Notifier) Status(s string) { n.send("STATUS=" + s) }

func (n *Notifier) send(state string) {
	if n == nil {
		return
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("sd_notify failed", "state", state, "socket", n.socket, "err", err)
	}
}
