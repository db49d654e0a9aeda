package testserver

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a server binary run for a test (InfluxDB, a NATS node): started
// again after a crash or a stop, signalled with a grace period.
type process struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current run exits
}

// start runs bin with args, its output to log, and returns the channel
// closed when this run exits.
func (p *process) start(log io.Writer, bin string, args ...string) (<-chan struct{}, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return done, nil
}

// exited is the channel closed when the current run exits (nil before start).
func (p *process) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// signal sends sig and waits for the exit, killing after grace.
func (p *process) signal(sig os.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
}

// pid is the running process's id, 0 when it is not running.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Terminate stops a process a test started itself (exec.Cmd, already
// started, not yet waited for): SIGTERM, as systemd would stop it, then a
// kill if it has not exited after grace. It returns whether it had to kill,
// and Wait's error.
func Terminate(cmd *exec.Cmd, grace time.Duration) (killed bool, err error) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return false, err
	case <-time.After(grace):
		cmd.Process.Kill()
		return true, <-done
	}
}
