package mqtt

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/polis-edge/polis/protocols/testserver"
)

// connackFails is a client connection that sends a valid CONNECT and then
// cannot be written to, so the broker's CONNACK write fails.
type connackFails struct {
	net.Conn // nil: only the methods below are used
	r        *bytes.Reader
}

func (c *connackFails) Read(p []byte) (int, error) {
	if c.r.Len() == 0 {
		return 0, errors.New("closed")
	}
	return c.r.Read(p)
}
func (c *connackFails) Write([]byte) (int, error)        { return 0, errors.New("broken pipe") }
func (c *connackFails) Close() error                     { return nil }
func (c *connackFails) SetDeadline(time.Time) error      { return nil }
func (c *connackFails) SetReadDeadline(time.Time) error  { return nil }
func (c *connackFails) SetWriteDeadline(time.Time) error { return nil }
func (c *connackFails) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
}
func (c *connackFails) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }

// When the CONNACK cannot be written, mochi returns without running the
// disconnect hooks: the connection record, the client id claim and mochi's
// own client entry would stay forever (and the id stay "taken").
func TestFailedConnackReleasesConnectionState(t *testing.T) {
	s := startService(t, officeConfig(), newRecorder(), openDB(t))
	e := s.tp().(*embedded)
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: "th-hall-leak",
			UsernameFlag: true, Username: []byte("th-hall"), PasswordFlag: true, Password: []byte("th-pass")}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.EstablishConnection("tcp", &connackFails{r: bytes.NewReader(buf.Bytes())}); err == nil {
		t.Fatal("the CONNACK write did not fail")
	}
	testserver.WaitFor(t, "connection state released", func() bool {
		n := 0
		e.hook.conns.Range(func(any, any) bool { n++; return true })
		e.admission.mu.Lock()
		claims := len(e.admission.claims)
		e.admission.mu.Unlock()
		_, held := e.srv.Clients.Get("th-hall-leak")
		return n == 0 && claims == 0 && !held
	})
	// The client id is free again for its owner.
	c := rawDial(t, s.Addr(), "th-hall-leak", "th-hall", "th-pass", true, 4)
	c.publish("zigbee2mqtt/th-hall", []byte(`{"temperature": 20}`), 1, 1, false)
	c.expectPuback(1)
}
