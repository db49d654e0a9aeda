package edge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// A driver whose Run fails (its port taken by another process, a serial
// device gone) is restarted with exponential back-off, and reported in
// /api/v1/status and /readyz meanwhile instead of only being logged.
var (
	driverRestartMin = time.Second
	driverRestartMax = 30 * time.Second
)

// Driver states in DriverStatus.
const (
	DriverRunning = "running"
	DriverFailed  = "failed" // waiting for its next restart
)

// DriverStatus is one driver as /api/v1/status reports it.
type DriverStatus struct {
	Name      string    `json:"name"`
	State     string    `json:"state"`
	Restarts  int       `json:"restarts"`
	LastError string    `json:"last_error,omitempty"`
	FailedAt  time.Time `json:"failed_at,omitzero"`
}

// driverState is the supervision record of one driver.
type driverState struct {
	mu sync.Mutex
	st DriverStatus
}

func (s *driverState) set(f func(*DriverStatus)) {
	s.mu.Lock()
	f(&s.st)
	s.mu.Unlock()
}

func (s *driverState) get() DriverStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// runDriver runs drv until ctx ends, restarting it after each failure. The
// back-off doubles up to driverRestartMax and starts again from
// driverRestartMin once a run lasted longer than driverRestartMax.
func (d *Daemon) runDriver(ctx context.Context, st *driverState, drv driver) {
	pause := driverRestartMin
	for {
		st.set(func(s *DriverStatus) { s.State = DriverRunning })
		began := time.Now()
		err := drv.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped by itself")
		}
		if time.Since(began) > driverRestartMax {
			pause = driverRestartMin
		}
		st.set(func(s *DriverStatus) {
			s.State, s.LastError, s.FailedAt = DriverFailed, err.Error(), time.Now()
		})
		d.log.Error("driver failed; restarting", "driver", st.get().Name, "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		st.set(func(s *DriverStatus) { s.Restarts++ })
		pause = min(2*pause, driverRestartMax)
	}
}

// driverStatus reports every driver.
func (d *Daemon) driverStatus() []DriverStatus {
	out := make([]DriverStatus, 0, len(d.driverStates))
	for _, s := range d.driverStates {
		out = append(out, s.get())
	}
	return out
}

// notReady says why the office is not ready ("" when it is): still
// starting, or a driver down.
func (d *Daemon) notReady() string {
	select {
	case <-d.ready:
	default:
		return "starting"
	}
	var down []string
	for _, s := range d.driverStatus() {
		if s.State != DriverRunning {
			down = append(down, fmt.Sprintf("driver %s %s: %s", s.Name, s.State, s.LastError))
		}
	}
	return strings.Join(down, "; ")
}

// closer is implemented by drivers that hold resources from New on (the
// OCPP listener), released when the daemon fails to start after building
// them.
type closer interface{ Close() error }

// closeDrivers releases what the built drivers hold, after a failed New.
func (d *Daemon) closeDrivers() {
	for _, drv := range d.drivers {
		if c, ok := drv.(closer); ok {
			if err := c.Close(); err != nil {
				d.log.Warn("close driver", "err", err)
			}
		}
	}
}
