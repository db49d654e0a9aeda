package ocpp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// conn is one charger's WebSocket. It implements ws.Channel for the ocppj
// stack. One goroutine reads, one writes; nothing else touches the socket.
type conn struct {
	id    string
	ws    *websocket.Conn
	stack *stack
	tls   *tls.ConnectionState
	f     *front

	out       chan []byte
	ctrl      chan closeReq
	done      chan struct{} // closed when the connection starts shutting down
	gone      chan struct{} // closed after the stack forgot the connection
	closeOnce sync.Once
}

type closeReq struct {
	code int
	text string
}

func newConn(id string, wsc *websocket.Conn, st *stack, ts *tls.ConnectionState, f *front) *conn {
	return &conn{
		id: id, ws: wsc, stack: st, tls: ts, f: f,
		out:  make(chan []byte, 16),
		ctrl: make(chan closeReq, 1),
		done: make(chan struct{}),
		gone: make(chan struct{}),
	}
}

func (c *conn) ID() string                               { return c.id }
func (c *conn) RemoteAddr() net.Addr                     { return c.ws.RemoteAddr() }
func (c *conn) TLSConnectionState() *tls.ConnectionState { return c.tls }

// close asks the writer to send a close frame and tear the socket down.
func (c *conn) close(code int, text string) {
	select {
	case c.ctrl <- closeReq{code, text}:
	default:
	}
	c.shutdown()
}

func (c *conn) shutdown() {
	c.closeOnce.Do(func() { close(c.done) })
}

var errClosed = errors.New("connection closed")

func (c *conn) write(data []byte) error {
	select {
	case c.out <- data:
		return nil
	case <-c.done:
		return fmt.Errorf("write to %s: %w", c.id, errClosed)
	}
}

func (c *conn) readLoop() {
	cfg := c.f.cfg
	defer c.finish()
	c.ws.SetReadLimit(cfg.MaxMessageBytes)
	deadline := func() { _ = c.ws.SetReadDeadline(time.Now().Add(3 * cfg.PingInterval)) }
	deadline()
	c.ws.SetPongHandler(func(string) error { deadline(); return nil })
	c.ws.SetPingHandler(func(data string) error {
		deadline()
		_ = c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
		return nil
	})
	limiter := rate.NewLimiter(rate.Inf, 0) // no limit configured
	if r := cfg.RateLimit.MessagesPerSecond; r > 0 {
		limiter = rate.NewLimiter(rate.Limit(r), max(cfg.RateLimit.Burst, 1))
	}
	for {
		kind, data, err := c.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.f.stats.inc(c.id, "oversized_frames")
				c.f.log.Warn("ocpp: frame over max_message_bytes, closing", "charger", c.id, "limit", cfg.MaxMessageBytes)
			}
			return
		}
		deadline()
		c.f.stats.seen(c.id)
		if wait := limiter.Reserve().Delay(); wait > 0 { // a flood is slowed, not dropped
			c.f.stats.inc(c.id, "rate_limited")
			select {
			case <-time.After(wait):
			case <-c.done:
				return
			}
		}
		if kind != websocket.TextMessage {
			c.f.stats.inc(c.id, "rejected_binary_frame")
			continue
		}
		if reply := directAnswer(c.stack.proto, data); reply != nil {
			c.f.stats.inc(c.id, "iso15118_refused")
			_ = c.write(reply)
			continue
		}
		if reply := unsupportedType(data); reply != nil {
			c.f.stats.inc(c.id, "rejected_frames")
			_ = c.write(reply)
			continue
		}
		if fixed := compositeFrame201(c.stack.proto, data); fixed != nil {
			data = fixed
		}
		if err := c.stack.handler(c, data); err != nil {
			c.f.stats.inc(c.id, "rejected_frames")
			c.f.log.Debug("ocpp: bad frame", "charger", c.id, "err", err)
		}
	}
}

// finish runs once per connection after the reader stops: the socket is
// closed, the front and the stack forget it, and waiters on gone proceed.
func (c *conn) finish() {
	c.shutdown()
	_ = c.ws.Close()
	c.f.detach(c)
	c.stack.disconnected(c)
	close(c.gone)
}

func (c *conn) writeLoop() {
	ping := time.NewTicker(c.f.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case data := <-c.out:
			_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
				c.shutdown()
				_ = c.ws.Close()
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
				c.shutdown()
				_ = c.ws.Close()
				return
			}
		case <-c.done:
			req := closeReq{websocket.CloseNormalClosure, ""}
			select {
			case req = <-c.ctrl:
			default:
			}
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(req.code, req.text), time.Now().Add(time.Second))
			_ = c.ws.Close() // unblocks the reader
			return
		}
	}
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ocpp.tls.client_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ocpp.tls.client_ca: no PEM certificates in %s", path)
	}
	return pool, nil
}
