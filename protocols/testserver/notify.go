package testserver

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NotifySocket plays systemd's side of sd_notify(3): a unixgram socket whose
// path goes into a daemon's NOTIFY_SOCKET, and the messages it received.
type NotifySocket struct {
	Path string
	msgs chan string
}

// Notify listens on a fresh socket until the test ends.
func Notify(t testing.TB) *NotifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &NotifySocket{Path: path, msgs: make(chan string, 4096)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(s.msgs)
				return
			}
			// One datagram may carry several newline-separated assignments.
			for _, m := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
				s.msgs <- m
			}
		}
	}()
	return s
}

// Next returns the next message; it fails the test if none comes within
// limit (a bound on a hang, not a timing assertion).
func (s *NotifySocket) Next(t testing.TB, limit time.Duration) string {
	t.Helper()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			t.Fatal("notify socket closed")
		}
		return m
	case <-time.After(limit):
		t.Fatalf("no sd_notify message within %s", limit)
		return ""
	}
}

// Pending returns the messages received so far without waiting.
func (s *NotifySocket) Pending() []string {
	var out []string
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				return out
			}
			out = append(out, m)
		default:
			return out
		}
	}
}
