// Package ocppprobe is `polis-edge probe ocpp`: it listens where the edge's
// OCPP endpoint would, lets a charger connect, and shows the installer what
// it tries: its id, the OCPP versions it offers, the security profile
// (plain/TLS, Basic auth, client certificate) and every frame it sends. It
// answers the calls a charger needs to keep talking (BootNotification
// Accepted, Heartbeat, StatusNotification, MeterValues, ...) and nothing that
// would start a charge: Authorize and transactions are answered Invalid/
// Rejected, so a probe never authorises a car.
package ocppprobe

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Versions we speak, in order of preference.
var versions = []string{"ocpp2.0.1", "ocpp1.6"}

// Options configure a probe.
type Options struct {
	Listener net.Listener // already bound (tests, or Run binds Addr)
	Addr     string       // e.g. 0.0.0.0:8887
	Path     string       // URL path before the charger id, default /ocpp
	TLS      *tls.Config  // serve wss: profiles 2 and 3 (ClientAuth decides 3)
	Calls    int          // stop after this many calls from chargers; 0 = until ctx ends
	Out      io.Writer
}

// Run serves until ctx ends or Calls calls were seen.
func Run(ctx context.Context, o Options) error {
	if o.Path == "" {
		o.Path = "/ocpp"
	}
	ln := o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", o.Addr); err != nil {
			return fmt.Errorf("probe ocpp: listen %s: %w", o.Addr, err)
		}
	}
	p := &probe{o: o, done: make(chan struct{})}
	scheme, hint := "ws", " (plain: profile 0 or 1; give -tls-cert/-tls-key to see profiles 2 and 3)"
	if o.TLS != nil {
		scheme, hint = "wss", ""
		ln = tls.NewListener(ln, o.TLS)
	}
	p.printf("listening on %s://%s%s/<charger-id>%s\n", scheme, ln.Addr(), strings.TrimSuffix(o.Path, "/"), hint)
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	select {
	case <-ctx.Done():
	case <-p.done:
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	p.wg.Wait()
	return nil
}

type probe struct {
	o     Options
	mu    sync.Mutex // serialises output and counts
	calls int
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func (p *probe) printf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.o.Out, format, a...)
}

func (p *probe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	prefix := strings.TrimSuffix(p.o.Path, "/") + "/"
	id := strings.TrimPrefix(r.URL.Path, prefix)
	if !strings.HasPrefix(r.URL.Path, prefix) || id == "" || strings.Contains(id, "/") {
		p.printf("%s: request for %s, not %s<charger-id>: check the charger's central system URL\n", r.RemoteAddr, r.URL.Path, prefix)
		http.Error(w, "want "+prefix+"<charger-id>", http.StatusNotFound)
		return
	}
	offered := websocket.Subprotocols(r)
	chosen := ""
	for _, v := range versions {
		for _, o := range offered {
			if o == v && chosen == "" {
				chosen = v
			}
		}
	}
	p.printf("%s connected from %s\n  offers subprotocols: %s\n  security: %s\n", id, r.RemoteAddr, listOrNone(offered), security(r))
	if chosen == "" {
		p.printf("  no version we speak (%s): the edge would refuse it\n", strings.Join(versions, ", "))
	} else {
		p.printf("  the edge would speak %s\n", chosen)
	}
	up := websocket.Upgrader{Subprotocols: []string{chosen}, CheckOrigin: func(*http.Request) bool { return true }}
	if chosen == "" {
		up.Subprotocols = nil
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		p.printf("  websocket upgrade failed: %v\n", err)
		return
	}
	p.wg.Add(1)
	defer p.wg.Done()
	defer conn.Close()
	go func() { <-p.done; conn.Close() }()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.printf("%s disconnected: %v\n", id, err)
			}
			return
		}
		p.printf("%s → %s\n", id, msg)
		reply, isCall := answer(chosen, msg)
		if reply != nil {
			p.printf("%s ← %s\n", id, reply)
			if err := conn.WriteMessage(websocket.TextMessage, reply); err != nil {
				return
			}
		}
		if isCall {
			p.countCall()
		}
	}
}

func (p *probe) countCall() {
	p.mu.Lock()
	p.calls++
	n := p.calls
	p.mu.Unlock()
	if p.o.Calls > 0 && n >= p.o.Calls {
		p.once.Do(func() { close(p.done) })
	}
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// security names the OCPP security profile the connection attempt matches.
func security(r *http.Request) string {
	user, pass, basic := r.BasicAuth()
	cred := "no HTTP Basic auth"
	if basic {
		cred = fmt.Sprintf("HTTP Basic auth as %q with a password of %d characters", user, len(pass))
	}
	switch {
	case r.TLS != nil && len(r.TLS.PeerCertificates) > 0:
		return fmt.Sprintf("profile 3 (TLS with client certificate %q), %s", r.TLS.PeerCertificates[0].Subject.CommonName, cred)
	case r.TLS != nil && basic:
		return "profile 2 (TLS + " + cred + ")"
	case r.TLS != nil:
		return "TLS without credentials (no OCPP profile: the edge would refuse it)"
	case basic:
		return "profile 1 (plain WebSocket + " + cred + ")"
	}
	return "profile 0 (plain WebSocket, no credentials: accepted only with security_profile 0)"
}

// answer builds the reply to a CALL frame. It keeps a charger talking without
// authorising anything.
func answer(version string, msg []byte) (reply []byte, isCall bool) {
	var frame []json.RawMessage
	if json.Unmarshal(msg, &frame) != nil || len(frame) < 3 {
		return nil, false
	}
	var typ int
	var id, action string
	if json.Unmarshal(frame[0], &typ) != nil || typ != 2 || len(frame) != 4 ||
		json.Unmarshal(frame[1], &id) != nil || json.Unmarshal(frame[2], &action) != nil {
		return nil, false
	}
	now := time.Now().UTC().Format(time.RFC3339)
	var payload any
	if version == "ocpp2.0.1" {
		payload = answers201(action, now)
	} else {
		payload = answers16(action, now)
	}
	if payload == nil {
		out, _ := json.Marshal([]any{4, id, "NotSupported", "polis-edge probe does not answer " + action, map[string]any{}})
		return out, true
	}
	out, _ := json.Marshal([]any{3, id, payload})
	return out, true
}

func answers16(action, now string) any {
	switch action {
	case "BootNotification":
		return map[string]any{"status": "Accepted", "currentTime": now, "interval": 60}
	case "Heartbeat":
		return map[string]any{"currentTime": now}
	case "StatusNotification", "MeterValues", "DiagnosticsStatusNotification", "FirmwareStatusNotification":
		return map[string]any{}
	case "Authorize":
		return map[string]any{"idTagInfo": map[string]any{"status": "Invalid"}}
	case "StartTransaction":
		return map[string]any{"transactionId": 0, "idTagInfo": map[string]any{"status": "Invalid"}}
	case "StopTransaction":
		return map[string]any{}
	case "DataTransfer":
		return map[string]any{"status": "UnknownVendorId"}
	}
	return nil
}

func answers201(action, now string) any {
	switch action {
	case "BootNotification":
		return map[string]any{"status": "Accepted", "currentTime": now, "interval": 60}
	case "Heartbeat":
		return map[string]any{"currentTime": now}
	case "StatusNotification", "MeterValues", "NotifyEvent", "NotifyReport", "SecurityEventNotification",
		"FirmwareStatusNotification", "LogStatusNotification", "NotifyChargingLimit", "ClearedChargingLimit":
		return map[string]any{}
	case "Authorize":
		return map[string]any{"idTokenInfo": map[string]any{"status": "Invalid"}}
	case "TransactionEvent":
		return map[string]any{"idTokenInfo": map[string]any{"status": "Invalid"}}
	case "DataTransfer":
		return map[string]any{"status": "UnknownVendorId"}
	}
	return nil
}
