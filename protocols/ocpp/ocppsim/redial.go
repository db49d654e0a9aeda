package ocppsim

import (
	"errors"
	"sync"
	"time"

	"github.com/lorenzodonini/ocpp-go/ws"
)

// redialer is the WebSocket client the library's charge point talks through.
// It dials every connection with a fresh ws.Client and reconnects by itself.
//
// Why: ocpp-go's client reconnects by restarting the same ws.Client, which
// overwrites the connection state that the old connection's reader may still
// be reading, without synchronisation. The race detector reports it whenever
// the writer notices a dead socket first, which made the suites that cut
// connections flaky. A fresh client per connection has nothing to race on;
// the library's own reconnection is stopped before it can start.
type redialer struct {
	newClient func() *ws.Client // TLS and timeouts already set
	backoff   time.Duration

	mu             sync.Mutex
	cur            *ws.Client
	url            string
	stopped        bool
	onMessage      func([]byte) error
	onDisconnected func(error)
	onReconnected  func()
	subprotocol    string
	user, pass     string
	headers        [][2]string
	options        []any
	errC           chan error
}

var errNotConnected = errors.New("ocppsim: not connected")

func newRedialer(newClient func() *ws.Client, backoff time.Duration) *redialer {
	return &redialer{newClient: newClient, backoff: backoff, errC: make(chan error)}
}

// fresh builds a client with everything the library configured so far.
func (r *redialer) fresh() *ws.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.newClient()
	c.SetMessageHandler(r.onMessage)
	if r.subprotocol != "" {
		c.SetRequestedSubProtocol(r.subprotocol)
	}
	if r.user != "" {
		c.SetBasicAuth(r.user, r.pass)
	}
	for _, h := range r.headers {
		c.SetHeaderValue(h[0], h[1])
	}
	for _, o := range r.options {
		c.AddOption(o)
	}
	c.SetDisconnectedHandler(func(err error) { r.lost(c, err) })
	return c
}

func (r *redialer) Start(url string) error {
	r.mu.Lock()
	r.url, r.stopped = url, false
	r.mu.Unlock()
	c := r.fresh()
	if err := c.Start(url); err != nil {
		return err
	}
	r.mu.Lock()
	r.cur = c
	r.mu.Unlock()
	return nil
}

func (r *redialer) StartWithRetries(url string) {
	for r.Start(url) != nil {
		time.Sleep(r.backoff)
	}
}

// lost runs on the dead client's writer goroutine, before the library would
// start reconnecting that client: Stop ends that (unless our own Stop already
// did: a second Stop panics), and a new client dials instead. The library's
// handler hears of every disconnect; its own Stop waits for that.
func (r *redialer) lost(c *ws.Client, err error) {
	r.mu.Lock()
	stopped := r.stopped
	current := r.cur == c
	if current {
		r.cur = nil
	}
	onDisconnected := r.onDisconnected
	r.mu.Unlock()
	if !stopped {
		c.Stop()
	}
	if onDisconnected != nil && (current || stopped) {
		onDisconnected(err)
	}
	if current && !stopped {
		go r.redial()
	}
}

func (r *redialer) redial() {
	for {
		time.Sleep(r.backoff)
		r.mu.Lock()
		url, stopped := r.url, r.stopped
		r.mu.Unlock()
		if stopped {
			return
		}
		c := r.fresh()
		if c.Start(url) != nil {
			continue
		}
		r.mu.Lock()
		if r.stopped {
			r.mu.Unlock()
			c.Stop()
			return
		}
		r.cur = c
		onReconnected := r.onReconnected
		r.mu.Unlock()
		if onReconnected != nil {
			onReconnected()
		}
		return
	}
}

func (r *redialer) Stop() {
	r.mu.Lock()
	r.stopped = true
	c := r.cur
	r.cur = nil
	r.mu.Unlock()
	if c != nil {
		c.Stop()
	}
}

func (r *redialer) current() *ws.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

func (r *redialer) Write(data []byte) error {
	if c := r.current(); c != nil {
		return c.Write(data)
	}
	return errNotConnected
}

func (r *redialer) IsConnected() bool {
	c := r.current()
	return c != nil && c.IsConnected()
}

// Errors is never written: a ws.Client reports errors only to a caller that
// asked for its channel, and a blocked report would stall its reader.
func (r *redialer) Errors() <-chan error { return r.errC }

func (r *redialer) SetMessageHandler(h func([]byte) error) { r.set(func() { r.onMessage = h }) }
func (r *redialer) SetDisconnectedHandler(h func(error))   { r.set(func() { r.onDisconnected = h }) }
func (r *redialer) SetReconnectedHandler(h func())         { r.set(func() { r.onReconnected = h }) }
func (r *redialer) SetRequestedSubProtocol(p string)       { r.set(func() { r.subprotocol = p }) }
func (r *redialer) SetBasicAuth(user, pass string)         { r.set(func() { r.user, r.pass = user, pass }) }
func (r *redialer) SetHeaderValue(k, v string) {
	r.set(func() { r.headers = append(r.headers, [2]string{k, v}) })
}
func (r *redialer) AddOption(o any) { r.set(func() { r.options = append(r.options, o) }) }

// SetTimeoutConfig is ignored: the simulator sets its timeouts in newClient.
func (r *redialer) SetTimeoutConfig(ws.ClientTimeoutConfig) {}

func (r *redialer) set(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
}
