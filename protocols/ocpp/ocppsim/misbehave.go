package ocppsim

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// SendMalformed writes the version's malformed frames on the live socket,
// bypassing the library's encoder. The central system must answer those with
// a message id with a CALLERROR (which the library drops: no request of ours
// is waiting for it) and ignore the rest, and keep the connection.
func (c *ChargePoint) SendMalformed() error {
	for _, f := range c.w.malformed() {
		if err := c.w.write([]byte(f)); err != nil {
			return fmt.Errorf("ocppsim %s: send malformed frame: %w", c.cfg.ID, err)
		}
	}
	return nil
}

// OpenDuplicate opens a second WebSocket with this charger's id and
// credentials while the first is alive, sends a BootNotification on it and
// then stays silent, answering nothing, until the central system closes it
// or ctx ends. It returns once the second socket is closed.
func (c *ChargePoint) OpenDuplicate(ctx context.Context) error {
	d := websocket.Dialer{Subprotocols: []string{c.w.subprotocol()}, TLSClientConfig: c.cfg.TLS, HandshakeTimeout: 10 * time.Second}
	hdr := http.Header{}
	if c.cfg.Password != "" {
		r, _ := http.NewRequest(http.MethodGet, "http://x", nil)
		r.SetBasicAuth(c.cfg.ID, c.cfg.Password)
		hdr.Set("Authorization", r.Header.Get("Authorization"))
	}
	ws, _, err := d.DialContext(ctx, c.cfg.URL+"/"+c.cfg.ID, hdr)
	if err != nil {
		return fmt.Errorf("ocppsim %s: duplicate dial: %w", c.cfg.ID, err)
	}
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer stop()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(c.w.bootFrame())); err != nil {
		return fmt.Errorf("ocppsim %s: duplicate boot: %w", c.cfg.ID, err)
	}
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			c.log.Debug("ocppsim: duplicate socket closed", "id", c.cfg.ID, "err", err)
			return nil
		}
	}
}
