package brokerlisten

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// connect sends an MQTT 3.1.1 CONNECT and reads the CONNACK.
func connect(addr, id string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, byte(len(id))}
	pkt := append([]byte{0x10, byte(len(vh) + len(id))}, vh...)
	pkt = append(pkt, id...)
	if _, err := c.Write(pkt); err != nil {
		c.Close()
		return nil, err
	}
	ack := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, ack); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// closeWhileClientsLeave closes a broker while half its clients are leaving
// and new ones are arriving, and reports whether Close returned in time.
func closeWhileClientsLeave(t *testing.T, newListener func() listeners.Listener) bool {
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv.AddHook(new(auth.AllowHook), nil)
	l := newListener()
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for i := range 40 {
		c, err := connect(l.Address(), fmt.Sprintf("c%d", i))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			if i%2 == 0 {
				c.Close()
				return
			}
			if c2, err := connect(l.Address(), fmt.Sprintf("n%d", i)); err == nil {
				c2.Close()
			}
		})
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	wg.Wait()
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	select {
	case <-done:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

// TestCloseNeverHangsWhileClientsComeAndGo: mochi's own listener hangs
// Server.Close now and then in exactly this situation (seen in CI); ours
// must close every time and leave no client behind.
func TestCloseNeverHangsWhileClientsComeAndGo(t *testing.T) {
	for round := range 30 {
		if !closeWhileClientsLeave(t, func() listeners.Listener { return NewTCP("tcp", "127.0.0.1:0", nil) }) {
			t.Fatalf("round %d: Server.Close did not return within 10 s", round)
		}
	}
}

// TestCloseDisconnectsClients: a client still connected at Close sees its
// connection end rather than hanging on a dead broker.
func TestCloseDisconnectsClients(t *testing.T) {
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv.AddHook(new(auth.AllowHook), nil)
	l := NewTCP("tcp", "127.0.0.1:0", nil)
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	c, err := connect(l.Address(), "still-here")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ne net.Error
	if _, err := c.Read(make([]byte, 16)); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("client still connected after Close: %v", err)
	}
	if n := srv.Clients.Len(); n != 0 {
		t.Fatalf("%d clients left in the table", n)
	}
	if _, err := connect(l.Address(), "late"); err == nil {
		t.Fatal("a client connected after Close")
	}
}
