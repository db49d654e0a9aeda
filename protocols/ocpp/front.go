package ocpp

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Subprotocols the front accepts, one ocppj stack each.
const (
	subproto16  = "ocpp1.6"
	subproto201 = "ocpp2.0.1"
)

// front owns the one listener both OCPP versions share. The library's ws.Server
// cannot do that (one message handler per server, one port each), refuses a
// reconnecting charger while the old socket looks alive, and sets no read
// limit. So the front does the HTTP side itself (auth, subprotocol choice,
// replacement of stale sockets, frame size and rate limits) and hands each
// connection to the stack (a ws.WsServer) of the negotiated version.
type front struct {
	cfg    *Config
	log    *slog.Logger
	stacks map[string]*stack
	known  map[string]ChargerConfig
	// passwords are the rotated ones (password.go); nil: configured only.
	passwords *passwords
	stats     *counters

	mu    sync.Mutex
	conns map[string]*conn
}

func newFront(cfg *Config, log *slog.Logger, stats *counters) *front {
	f := &front{cfg: cfg, log: log, stats: stats, conns: map[string]*conn{}, known: map[string]ChargerConfig{}}
	for _, c := range cfg.Chargers {
		f.known[c.ID] = c
	}
	f.stacks = map[string]*stack{subproto16: newStack(f, subproto16), subproto201: newStack(f, subproto201)}
	return f
}

// ServeHTTP serves the main listener (Listen, SecurityProfile).
func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.serve(w, r, f.cfg.profile())
}

// profileFront serves one of Listeners with its own security profile.
type profileFront struct {
	f       *front
	profile int
}

func (p profileFront) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.f.serve(w, r, p.profile) }

func (f *front) serve(w http.ResponseWriter, r *http.Request, profile int) {
	prefix := strings.TrimSuffix(f.cfg.Path, "/") + "/"
	id, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || !validChargerID(id) {
		http.NotFound(w, r)
		return
	}
	_, known := f.known[id]
	refused := func(why string) {
		f.stats.refuse(why)
		if known { // bounded by the config
			f.stats.inc(id, "refused_"+why)
		}
	}
	if code, why := f.authenticate(id, r, profile); code != 0 {
		refused(why)
		f.log.Warn("ocpp: connection refused", "charger", id, "remote", r.RemoteAddr, "reason", why)
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="ocpp"`)
		}
		http.Error(w, why, code)
		return
	}
	proto := chooseSubprotocol(websocket.Subprotocols(r))
	if proto == "" {
		refused("subprotocol")
		http.Error(w, "subprotocol must be ocpp1.6 or ocpp2.0.1", http.StatusBadRequest)
		return
	}
	up := websocket.Upgrader{HandshakeTimeout: 10 * time.Second}
	wsc, err := up.Upgrade(w, r, http.Header{"Sec-Websocket-Protocol": {proto}})
	if err != nil {
		f.log.Warn("ocpp: upgrade failed", "charger", id, "err", err)
		return
	}
	c := newConn(id, wsc, f.stacks[proto], r.TLS, f)
	f.attach(c)
}

// chooseSubprotocol honours the charger's order of preference.
func chooseSubprotocol(offered []string) string {
	for _, p := range offered {
		if p == subproto16 || p == subproto201 {
			return p
		}
	}
	return ""
}

// authenticate returns 0 when the charger may connect, else an HTTP status and
// a short reason used in counters and logs.
func (f *front) authenticate(id string, r *http.Request, profile int) (int, string) {
	known, isKnown := f.known[id]
	if !isKnown && !f.cfg.AllowUnknown {
		return http.StatusNotFound, "unknown_charger"
	}
	if isKnown && known.SecurityProfile > profile {
		return http.StatusForbidden, "profile_too_low"
	}
	switch profile {
	case 1, 2:
		if !isKnown {
			return 0, "" // unknown chargers get the configured boot status
		}
		user, pass, ok := r.BasicAuth()
		if !ok || user != id || !f.passwords.check(id, pass, known.Password) {
			return http.StatusUnauthorized, "bad_credentials"
		}
	case 3:
		// The TLS layer already verified the chain against client_ca; what is
		// left is that the certificate belongs to this charger, so one leaked
		// certificate cannot speak for every charger in the office.
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return http.StatusUnauthorized, "no_client_certificate"
		}
		if cn := r.TLS.PeerCertificates[0].Subject.CommonName; cn != id {
			return http.StatusForbidden, "certificate_cn_mismatch"
		}
	}
	return 0, ""
}

// attach makes c the charger's only connection. A charger that reconnects
// while the old socket still looks alive (NAT timeout, power cut without FIN)
// is right: the old socket is dead. Close it, let its stack forget it, and
// only then announce the new one, so pending requests never cross sockets.
func (f *front) attach(c *conn) {
	for {
		f.mu.Lock()
		old := f.conns[c.id]
		if old == nil {
			f.conns[c.id] = c
			f.mu.Unlock()
			break
		}
		f.mu.Unlock()
		f.stats.inc(c.id, "replaced_connections")
		f.log.Info("ocpp: charger reconnected while old socket open; replacing it", "charger", c.id)
		old.close(websocket.CloseGoingAway, "replaced by a newer connection")
		select {
		case <-old.gone:
		case <-time.After(5 * time.Second):
			f.mu.Lock()
			if f.conns[c.id] == old {
				delete(f.conns, c.id)
			}
			f.mu.Unlock()
		}
	}
	c.stack.connected(c)
	go c.writeLoop()
	go c.readLoop()
}

func (f *front) detach(c *conn) {
	f.mu.Lock()
	if f.conns[c.id] == c {
		delete(f.conns, c.id)
	}
	f.mu.Unlock()
}

func (f *front) lookup(id string) *conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns[id]
}

func (f *front) closeAll() {
	f.mu.Lock()
	all := make([]*conn, 0, len(f.conns))
	for _, c := range f.conns {
		all = append(all, c)
	}
	f.mu.Unlock()
	for _, c := range all {
		c.close(websocket.CloseGoingAway, "central system shutting down")
		<-c.gone
	}
}

// serverTLS builds the listener's TLS config for profiles 2 and 3: TLS 1.2
// and 1.3, the whitepaper's suites, an RSA or ECDSA key as configured, and
// a certificate reloaded from disk when it changes.
func serverTLS(cfg *Config, profile int, log *slog.Logger) (*tls.Config, error) {
	if profile < 2 {
		return nil, nil
	}
	certs, err := newCertReloader(cfg.TLS.Cert, cfg.TLS.Key, log)
	if err != nil {
		return nil, err
	}
	base := &tls.Config{GetCertificate: certs.get, MinVersion: tls.VersionTLS12, CipherSuites: cipherSuites12}
	if profile < 3 {
		return base, nil
	}
	cas, err := newCAReloader(cfg.TLS.ClientCA, log)
	if err != nil {
		return nil, err
	}
	base.ClientAuth = tls.RequireAndVerifyClientCert
	base.ClientCAs = cas.get()
	tc := base.Clone()
	// Each handshake gets the client CA pool as the file has it now, so a
	// new charger CA (or a removed one) needs no restart.
	tc.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.ClientCAs = cas.get()
		return c, nil
	}
	return tc, nil
}

// listen binds one listener, with TLS for profiles 2 and 3.
func listen(cfg *Config, l ListenerConfig, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", l.Listen)
	if err != nil {
		return nil, fmt.Errorf("ocpp: listen %s: %w", l.Listen, err)
	}
	tc, err := serverTLS(cfg, l.SecurityProfile, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return ln, nil
}
