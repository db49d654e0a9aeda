package modbussim

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"

	mb "github.com/simonvetter/modbus"
)

// ServeRTU answers Modbus RTU frames (with CRC) on rw, e.g. one side of a
// pseudo-terminal pair, for every simulated unit. The library's server speaks
// TCP only, so this minimal slave makes the serial path testable with real
// frames. Like a real RS485 slave it stays silent for unknown units and frames
// with a bad CRC. It returns when rw fails or ctx is done (rw is closed then
// if it is an io.Closer).
func (s *Sim) ServeRTU(ctx context.Context, rw io.ReadWriter) error {
	if c, ok := rw.(io.Closer); ok {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
	}
	for {
		req, err := readRTURequest(rw)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, errBadCRC) {
				continue
			}
			return err
		}
		d := s.rtuUnit(req[0])
		if d == nil {
			continue
		}
		if _, err := rw.Write(s.rtuAnswer(d, req)); err != nil {
			return err
		}
	}
}

// ListenRTUOverTCP serves RTU framing over TCP (what RS485-to-Ethernet
// gateways in transparent mode do) and returns the bound address.
func (s *Sim) ListenRTUOverTCP(ctx context.Context, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = s.ServeRTU(ctx, c) }()
		}
	}()
	return ln.Addr().String(), nil
}

func (s *Sim) rtuUnit(id uint8) *simDevice {
	for _, d := range s.order {
		if d.cfg.Unit == id {
			return d
		}
	}
	return nil
}

var errBadCRC = errors.New("bad crc")

// readRTURequest reads one request frame; the function code tells its length.
func readRTURequest(r io.Reader) ([]byte, error) {
	f := make([]byte, 8, 260)
	if _, err := io.ReadFull(r, f[:2]); err != nil {
		return nil, err
	}
	switch f[1] {
	case 3, 4, 6:
		if _, err := io.ReadFull(r, f[2:8]); err != nil {
			return nil, err
		}
	case 16:
		f = f[:7]
		if _, err := io.ReadFull(r, f[2:7]); err != nil {
			return nil, err
		}
		f = append(f, make([]byte, int(f[6])+2)...)
		if _, err := io.ReadFull(r, f[7:]); err != nil {
			return nil, err
		}
	default:
		return nil, errBadCRC // unknown function: treat as line noise
	}
	n := len(f)
	if binary.LittleEndian.Uint16(f[n-2:]) != CRC16(f[:n-2]) {
		return nil, errBadCRC
	}
	return f[:n-2], nil
}

func (s *Sim) rtuAnswer(d *simDevice, req []byte) []byte {
	fc := int(req[1])
	addr := int(binary.BigEndian.Uint16(req[2:4]))
	n := int(binary.BigEndian.Uint16(req[4:6]))
	var vals []uint16
	switch fc {
	case 6:
		vals, n = []uint16{uint16(n)}, 1
	case 16:
		for i := 0; i < n && 7+2*i+1 < len(req); i++ {
			vals = append(vals, binary.BigEndian.Uint16(req[7+2*i:]))
		}
	}
	regs, err := s.serve(d, fc, addr, n, vals)
	var out []byte
	switch {
	case err != nil:
		out = []byte{req[0], req[1] | 0x80, exceptionCode(err)}
	case fc == 6 || fc == 16:
		out = append([]byte(nil), req[:6]...)
	default:
		out = []byte{req[0], req[1], byte(2 * len(regs))}
		for _, r := range regs {
			out = binary.BigEndian.AppendUint16(out, r)
		}
	}
	return binary.LittleEndian.AppendUint16(out, CRC16(out))
}

func exceptionCode(err error) byte {
	switch {
	case errors.Is(err, mb.ErrIllegalFunction):
		return 1
	case errors.Is(err, mb.ErrIllegalDataAddress):
		return 2
	case errors.Is(err, mb.ErrIllegalDataValue):
		return 3
	}
	return 4
}

// CRC16 is the Modbus RTU CRC (poly 0xA001 reflected, init 0xFFFF).
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc ^= uint16(x)
		for i := 0; i < 8; i++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
