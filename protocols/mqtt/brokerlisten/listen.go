// Package brokerlisten has the listeners our embedded mochi brokers (the
// office broker, the fleet broker, test brokers) accept clients on.
//
// They close their own connections instead of using the closer mochi hands
// them. mochi 2.7.9's closer lists a listener's clients under a read lock it
// takes twice (Clients.GetByListener → Len): a client leaving at that moment
// queues for the write lock between the two, and Server.Close hangs for
// good. It also adds to its client WaitGroup from accept goroutines that can
// still be starting while Close waits on it, which the race detector
// reports. A Tracker avoids both: it counts every establish call itself,
// refuses new ones once closing, closes the connections it handed out, and
// returns from Close only when all of them have returned. mochi's own Wait
// then finds nothing to wait for.
package brokerlisten

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// Tracker counts a listener's connections and the establish calls serving them.
type Tracker struct {
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

// Serve runs establish for conn unless the listener is closing, and closes
// conn when establish returns. The count is taken under the same lock as
// the closing flag, so no Add can race Close's Wait.
func (t *Tracker) Serve(id string, conn net.Conn, establish listeners.EstablishFn) error {
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		conn.Close()
		return errors.New("listener closing")
	}
	if t.conns == nil {
		t.conns = map[net.Conn]struct{}{}
	}
	t.conns[conn] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.conns, conn)
		t.mu.Unlock()
		conn.Close()
		t.wg.Done()
	}()
	return establish(id, conn)
}

// CloseAll refuses new connections, closes the open ones (their clients see
// the link drop, as at any outage, and mochi sends their wills) and waits up
// to timeout for every establish call to return.
func (t *Tracker) CloseAll(timeout time.Duration) {
	t.mu.Lock()
	t.closing = true
	open := make([]net.Conn, 0, len(t.conns))
	for c := range t.conns {
		open = append(open, c)
	}
	t.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

// CloseTimeout bounds how long closing a listener waits for its clients'
// goroutines after their connections are closed.
const CloseTimeout = 5 * time.Second

// TCP is a plain or TLS MQTT listener. It binds in Init, so AddListener
// reports a port in use and ":0" resolves before Serve.
type TCP struct {
	id      string
	address string
	tls     *tls.Config
	ln      net.Listener
	log     *slog.Logger
	t       Tracker
	once    sync.Once
}

// NewTCP returns a listener for address; tc nil means plain TCP.
func NewTCP(id, address string, tc *tls.Config) *TCP {
	return &TCP{id: id, address: address, tls: tc}
}

func (l *TCP) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	if l.tls != nil {
		ln = tls.NewListener(ln, l.tls)
	}
	l.ln, l.log = ln, log
	return nil
}

func (l *TCP) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return // closed; any other accept error on a TCP listener is fatal too
		}
		go func() {
			if err := l.t.Serve(l.id, conn, establish); err != nil {
				l.log.Debug("mqtt client ended", "listener", l.id, "remote", conn.RemoteAddr(), "err", err)
			}
		}()
	}
}

func (l *TCP) ID() string       { return l.id }
func (l *TCP) Protocol() string { return "tcp" }

// Address is the bound address once Init has run.
func (l *TCP) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

// Close ignores mochi's client closer (see the package comment).
func (l *TCP) Close(listeners.CloseFn) {
	l.once.Do(func() {
		if l.ln != nil {
			l.ln.Close()
		}
		l.t.CloseAll(CloseTimeout)
	})
}
