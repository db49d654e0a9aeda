package ocpp

import (
	"fmt"
	"net"
	"net/http"

	"github.com/gorilla/websocket"
	"github.com/lorenzodonini/ocpp-go/ws"
)

// stack is the ws.WsServer the library's ocppj server of one OCPP version
// talks to. It owns no socket: the front accepts connections and routes each
// one here by subprotocol; Write finds the socket through the front.
type stack struct {
	f     *front
	proto string

	handler func(ws.Channel, []byte) error
	onNew   func(ws.Channel)
	onGone  func(ws.Channel)
	errC    chan error
}

var _ ws.WsServer = (*stack)(nil)

func newStack(f *front, proto string) *stack {
	return &stack{f: f, proto: proto, handler: func(ws.Channel, []byte) error { return nil }}
}

func (s *stack) connected(c *conn) {
	if s.onNew != nil {
		s.onNew(c)
	}
}

func (s *stack) disconnected(c *conn) {
	if s.onGone != nil {
		s.onGone(c)
	}
}

// Start is a no-op: the front serves the listener for both stacks.
func (s *stack) Start(int, string) {}
func (s *stack) Stop()             {}

func (s *stack) StopConnection(id string, ce websocket.CloseError) error {
	c := s.f.lookup(id)
	if c == nil || c.stack != s {
		return fmt.Errorf("stop %s: no %s connection", id, s.proto)
	}
	c.close(ce.Code, ce.Text)
	return nil
}

func (s *stack) Errors() <-chan error {
	if s.errC == nil {
		s.errC = make(chan error)
	}
	return s.errC
}

func (s *stack) SetMessageHandler(h func(ws.Channel, []byte) error) { s.handler = h }
func (s *stack) SetNewClientHandler(h func(ws.Channel))             { s.onNew = h }
func (s *stack) SetDisconnectedClientHandler(h func(ws.Channel))    { s.onGone = h }
func (s *stack) SetTimeoutConfig(ws.ServerTimeoutConfig)            {}
func (s *stack) AddSupportedSubprotocol(string)                     {}

// Authentication happens in the front, before the upgrade, for both stacks.
func (s *stack) SetBasicAuthHandler(func(string, string) bool)          {}
func (s *stack) SetCheckOriginHandler(func(*http.Request) bool)         {}
func (s *stack) SetCheckClientHandler(func(string, *http.Request) bool) {}
func (s *stack) Addr() *net.TCPAddr                                     { return nil }
func (s *stack) Connections(string) *ws.WebSocket                       { return nil }

func (s *stack) Write(id string, data []byte) error {
	c := s.f.lookup(id)
	if c == nil || c.stack != s {
		return fmt.Errorf("write to %s: not connected over %s", id, s.proto)
	}
	return c.write(data)
}
