package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/polis-edge/polis/protocols/modbus/sunspec"
)

// Backoff bounds for reconnecting a bus whose connection cannot be opened.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// errNotConnected is returned while a bus waits out its reconnect backoff, so
// devices on a dead bus fail fast instead of queueing behind dial timeouts.
var errNotConnected = errors.New("not connected")

// request is one Modbus transaction for the bus owner.
type request struct {
	ctx   context.Context
	unit  uint8
	fc    int // 3, 4 read; 16 write
	addr  uint16
	n     uint16
	vals  []uint16
	reply chan result
}

type result struct {
	regs []uint16
	err  error
}

// bus owns one physical connection. The client library keeps the unit id as
// client-wide state, so every request for every unit on the bus goes through
// this goroutine, one at a time.
type bus struct {
	cfg  BusConfig
	log  *slog.Logger
	reqs chan request

	client   *mb.ModbusClient
	nextDial time.Time
	backoff  time.Duration
	lastReq  time.Time

	requests, failures, reconnects atomic.Uint64
}

func newBus(cfg BusConfig, log *slog.Logger) *bus {
	return &bus{cfg: cfg, log: log.With("bus", cfg.ID), reqs: make(chan request)}
}

func (b *bus) run(ctx context.Context) {
	defer b.close()
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-b.reqs:
			regs, err := b.do(r)
			r.reply <- result{regs, err}
		}
	}
}

// call hands a request to the owner and waits for its answer.
func (b *bus) call(ctx context.Context, r request) ([]uint16, error) {
	r.ctx, r.reply = ctx, make(chan result, 1)
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-r.reply:
		return res.regs, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *bus) do(r request) ([]uint16, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	if err := b.connect(); err != nil {
		return nil, err
	}
	if wait := time.Until(b.lastReq.Add(b.cfg.RequestDelay)); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return nil, r.ctx.Err()
		}
	}
	defer func() { b.lastReq = time.Now() }()
	b.requests.Add(1)
	_ = b.client.SetUnitId(r.unit)
	var regs []uint16
	var err error
	switch r.fc {
	case 3:
		regs, err = b.client.ReadRegisters(r.addr, r.n, mb.HOLDING_REGISTER)
	case 4:
		regs, err = b.client.ReadRegisters(r.addr, r.n, mb.INPUT_REGISTER)
	case 16:
		err = b.client.WriteRegisters(r.addr, r.vals)
	default:
		err = fmt.Errorf("function %d not supported", r.fc)
	}
	if err != nil {
		b.failures.Add(1)
		err = b.classify(err)
		return nil, fmt.Errorf("unit %d fc%d %d+%d: %w", r.unit, r.fc, r.addr, max(r.n, uint16(len(r.vals))), err)
	}
	return regs, nil
}

// connect opens the client unless the backoff after a failed dial is running.
func (b *bus) connect() error {
	if b.client != nil {
		return nil
	}
	if wait := time.Until(b.nextDial); wait > 0 {
		return fmt.Errorf("bus %s: %w (retry in %s)", b.cfg.ID, errNotConnected, wait.Round(100*time.Millisecond))
	}
	c, err := mb.NewClient(b.clientConfig())
	if err == nil {
		err = c.Open()
	}
	if err != nil {
		b.backoff = min(max(2*b.backoff, minBackoff), maxBackoff)
		b.nextDial = time.Now().Add(b.backoff)
		return fmt.Errorf("bus %s: connect %s: %w", b.cfg.ID, b.cfg.URL, err)
	}
	if b.reconnects.Add(1) > 1 {
		b.log.Info("modbus bus reconnected", "url", b.cfg.URL)
	}
	b.client, b.backoff = c, 0
	return nil
}

func (b *bus) clientConfig() *mb.ClientConfiguration {
	cc := &mb.ClientConfiguration{
		URL:      b.cfg.URL,
		Speed:    b.cfg.Baud,
		StopBits: b.cfg.StopBits,
		Timeout:  b.cfg.Timeout,
		Logger:   slog.NewLogLogger(b.log.Handler(), slog.LevelDebug),
	}
	switch b.cfg.Parity {
	case "even":
		cc.Parity = mb.PARITY_EVEN
	case "odd":
		cc.Parity = mb.PARITY_ODD
	}
	return cc
}

// classify wraps exceptions so callers can tell "the device said no" from
// transport trouble, and drops a TCP stream whose framing can no longer be
// trusted (a late answer would be taken for the next request's).
func (b *bus) classify(err error) error {
	var me mb.Error
	if errors.As(err, &me) {
		switch me {
		case mb.ErrIllegalFunction, mb.ErrIllegalDataAddress, mb.ErrIllegalDataValue,
			mb.ErrServerDeviceFailure, mb.ErrAcknowledge, mb.ErrServerDeviceBusy,
			mb.ErrMemoryParityError, mb.ErrGWPathUnavailable, mb.ErrGWTargetFailedToRespond:
			return sunspec.ExceptionError{Err: err}
		case mb.ErrRequestTimedOut:
			if !strings.HasPrefix(b.cfg.URL, "rtu://") {
				b.close()
			}
			return err
		case mb.ErrProtocolError, mb.ErrBadCRC, mb.ErrShortFrame,
			mb.ErrBadUnitId, mb.ErrBadTransactionId, mb.ErrUnknownProtocolId:
			if !strings.HasPrefix(b.cfg.URL, "rtu://") {
				b.close()
			}
			return garbledError{err}
		}
	}
	b.close() // EOF, reset, broken pipe: the link is gone; redial at once
	return err
}

func (b *bus) close() {
	if b.client != nil {
		_ = b.client.Close()
		b.client = nil
	}
}

// garbledError is an answer that arrived but cannot be a valid frame.
type garbledError struct{ error }

func (g garbledError) Error() string { return "garbled answer: " + g.error.Error() }
func (g garbledError) Unwrap() error { return g.error }
