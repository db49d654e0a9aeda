package modbussim

import (
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"
)

// endpoint is one simulated TCP device or gateway. Requests reach the
// library's Modbus server through a small front proxy that can misbehave on
// purpose (drop, stay silent, garble, raise exceptions): the library server
// itself always answers correctly.
type endpoint struct {
	sim     *Sim
	ln      net.Listener
	server  *mb.ModbusServer
	backend string
	units   map[uint8]*simDevice
	names   []string

	mu    sync.Mutex
	conns map[net.Conn]bool
}

func (ep *endpoint) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ep.ln, ep.conns = ln, map[net.Conn]bool{}
	// The library server cannot report a :0 port, so reserve one first.
	for try := 0; ; try++ {
		p, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			ln.Close()
			return err
		}
		ep.backend = p.Addr().String()
		p.Close()
		ep.server, err = mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + ep.backend,
			Timeout: time.Hour, MaxClients: 256, Logger: log.New(io.Discard, "", 0)}, &handler{ep: ep})
		if err == nil {
			err = ep.server.Start()
		}
		if err == nil {
			return nil
		}
		if try == 5 {
			ln.Close()
			return err
		}
	}
}

func (ep *endpoint) close() {
	ep.ln.Close()
	ep.mu.Lock()
	for c := range ep.conns {
		c.Close()
	}
	ep.mu.Unlock()
	_ = ep.server.Stop()
}

func (ep *endpoint) accept() {
	for {
		c, err := ep.ln.Accept()
		if err != nil {
			return
		}
		ep.mu.Lock()
		ep.conns[c] = true
		ep.mu.Unlock()
		go ep.proxy(c)
	}
}

// proxy relays MBAP frames between a client and the backend, applying faults.
func (ep *endpoint) proxy(c net.Conn) {
	defer func() {
		c.Close()
		ep.mu.Lock()
		delete(ep.conns, c)
		ep.mu.Unlock()
	}()
	b, err := net.Dial("tcp", ep.backend)
	if err != nil {
		return
	}
	defer b.Close()
	for {
		req, err := readMBAP(c)
		if err != nil {
			return
		}
		f := ep.roll(req[6])
		switch f {
		case faultDrop:
			return
		case faultTimeout:
			continue // swallow: the client waits in vain
		case faultException:
			_, err = c.Write(exceptionFrame(req, 0x04))
			if err != nil {
				return
			}
			continue
		}
		if _, err := b.Write(req); err != nil {
			return
		}
		res, err := readMBAP(b)
		if err != nil {
			return
		}
		if f == faultGarble && len(res) > 8 {
			res[8]++ // byte count no longer matches the payload
		}
		if _, err := c.Write(res); err != nil {
			return
		}
	}
}

type fault int

const (
	faultNone fault = iota
	faultDrop
	faultTimeout
	faultException
	faultGarble
)

// roll draws the fault for one request to unit.
func (ep *endpoint) roll(unit uint8) fault {
	s := ep.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	d := ep.units[unit]
	if d == nil {
		return faultNone
	}
	f := d.faults
	x := s.rng.Float64()
	switch {
	case x < f.Drop:
		return faultDrop
	case x < f.Drop+f.Timeout:
		return faultTimeout
	case x < f.Drop+f.Timeout+f.Exception:
		return faultException
	case x < f.Drop+f.Timeout+f.Exception+f.Garble:
		return faultGarble
	}
	return faultNone
}

// readMBAP reads one Modbus TCP frame (7-byte header + PDU).
func readMBAP(r io.Reader) ([]byte, error) {
	hdr := make([]byte, 7, 260)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[4:6]))
	if n < 2 || n > 254 {
		return nil, errors.New("bad MBAP length")
	}
	frame := append(hdr, make([]byte, n-1)...)
	_, err := io.ReadFull(r, frame[7:])
	return frame, err
}

func exceptionFrame(req []byte, code byte) []byte {
	out := append([]byte(nil), req[:9]...)
	binary.BigEndian.PutUint16(out[4:6], 3)
	out[7] |= 0x80
	out[8] = code
	return out
}

// handler adapts the library server to the simulated units.
type handler struct{ ep *endpoint }

func (h *handler) unit(id uint8) (*simDevice, error) {
	if d := h.ep.units[id]; d != nil {
		return d, nil
	}
	return nil, mb.ErrGWTargetFailedToRespond
}

func (h *handler) HandleCoils(*mb.CoilsRequest) ([]bool, error) { return nil, mb.ErrIllegalFunction }

func (h *handler) HandleDiscreteInputs(*mb.DiscreteInputsRequest) ([]bool, error) {
	return nil, mb.ErrIllegalFunction
}

func (h *handler) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	d, err := h.unit(req.UnitId)
	if err != nil {
		return nil, err
	}
	if req.IsWrite {
		return nil, h.ep.sim.serveErr(d, 16, int(req.Addr), int(req.Quantity), req.Args)
	}
	return h.ep.sim.serve(d, 3, int(req.Addr), int(req.Quantity), nil)
}

func (h *handler) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	d, err := h.unit(req.UnitId)
	if err != nil {
		return nil, err
	}
	return h.ep.sim.serve(d, 4, int(req.Addr), int(req.Quantity), nil)
}
