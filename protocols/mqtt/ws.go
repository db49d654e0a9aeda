package mqtt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/polis-edge/polis/protocols/mqtt/brokerlisten"
)

// wsListener is the broker's MQTT-over-WebSocket listener. mochi's own one
// binds inside Serve, so a port in use is only logged and ":0" cannot be
// learned; this one binds in Init, where AddListener reports the error.
type wsListener struct {
	id        string
	address   string
	readLimit int64
	log       *slog.Logger
	ln        net.Listener
	srv       *http.Server
	establish listeners.EstablishFn
	closing   atomic.Bool
	conns     brokerlisten.Tracker
}

func newWSListener(id, address string, readLimit int64) *wsListener {
	return &wsListener{id: id, address: address, readLimit: readLimit}
}

func (l *wsListener) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	l.log, l.ln = log, ln
	up := &websocket.Upgrader{Subprotocols: []string{"mqtt"},
		// Browsers' Origin checks do not protect anything here: every
		// client still needs its MQTT username and password.
		CheckOrigin: func(*http.Request) bool { return true }}
	l.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { l.serveWS(up, w, r) })}
	return nil
}

func (l *wsListener) serveWS(up *websocket.Upgrader, w http.ResponseWriter, r *http.Request) {
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered with an HTTP error
	}
	c.SetReadLimit(l.readLimit)
	if err := l.conns.Serve(l.id, &wsConn{Conn: c.NetConn(), ws: c}, l.establish); err != nil {
		l.log.Debug("websocket client ended", "err", err, "remote", r.RemoteAddr)
	}
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.establish = establish
	if err := l.srv.Serve(l.ln); err != nil && !l.closing.Load() && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", "err", err, "listener", l.id)
	}
}

func (l *wsListener) ID() string { return l.id }

func (l *wsListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

func (l *wsListener) Protocol() string { return "ws" }

// Close closes the clients itself, not through mochi's closer (see brokerlisten).
func (l *wsListener) Close(listeners.CloseFn) {
	if !l.closing.CompareAndSwap(false, true) {
		return
	}
	if l.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), brokerlisten.CloseTimeout)
		defer cancel()
		_ = l.srv.Shutdown(ctx) // ends the accept loop; upgraded connections are the tracker's
	}
	l.conns.CloseAll(brokerlisten.CloseTimeout)
}

// wsConn carries the MQTT byte stream in binary WebSocket messages; an
// MQTT packet may span messages and a message may hold several packets.
type wsConn struct {
	net.Conn // the raw connection: addresses and deadlines
	ws       *websocket.Conn
	r        io.Reader
	wmu      sync.Mutex
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("websocket: MQTT needs binary messages, got type %d", typ)
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error { return c.ws.Close() }
