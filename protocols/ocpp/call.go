package ocpp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp"
)

// Errors a command can end with besides the charger's own answer.
var (
	ErrNotConnected = errors.New("charger not connected")
	ErrTimeout      = errors.New("charger did not answer in time")
)

// CallError is a CALLERROR the charger answered with.
type CallError struct {
	Code, Description string
}

func (e *CallError) Error() string {
	return fmt.Sprintf("charger answered %s: %s", e.Code, e.Description)
}

type asyncSender interface {
	SendRequestAsync(id string, req ocpp.Request, cb func(ocpp.Response, error)) error
}

// call sends one request and waits for the answer, the command timeout or
// ctx, whichever comes first. The library keeps one request in flight per
// charger and queues the rest, so callers may call concurrently.
func (s *Service) call(ctx context.Context, id string, req16, req201 ocpp.Request) (ocpp.Response, error) {
	conn := s.front.lookup(id)
	if conn == nil {
		return nil, fmt.Errorf("%s %s: %w", featureName(req16, req201), id, ErrNotConnected)
	}
	var sender asyncSender = s.cs16
	req := req16
	if conn.stack.proto == subproto201 {
		sender, req = s.cs201, req201
	}
	if req == nil {
		return nil, fmt.Errorf("%s on %s: not available in %s", featureName(req16, req201), id, conn.stack.proto)
	}
	type result struct {
		resp ocpp.Response
		err  error
	}
	done := make(chan result, 1)
	err := sender.SendRequestAsync(id, req, func(r ocpp.Response, err error) { done <- result{r, err} })
	if err != nil {
		return nil, fmt.Errorf("%s to %s: %w", req.GetFeatureName(), id, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	defer cancel()
	select {
	case r := <-done:
		var oe *ocpp.Error
		if errors.As(r.err, &oe) {
			if oe.Code == "GenericError" && oe.Description == "client disconnected, no response received from client" {
				return nil, fmt.Errorf("%s to %s: %w", req.GetFeatureName(), id, ErrNotConnected)
			}
			return nil, fmt.Errorf("%s to %s: %w", req.GetFeatureName(), id, &CallError{string(oe.Code), oe.Description})
		}
		if r.err != nil {
			return nil, fmt.Errorf("%s to %s: %w", req.GetFeatureName(), id, r.err)
		}
		return r.resp, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s to %s after %s: %w", req.GetFeatureName(), id, s.cfg.CommandTimeout, ErrTimeout)
	}
}

func featureName(a, b ocpp.Request) string {
	if a != nil {
		return a.GetFeatureName()
	}
	if b != nil {
		return b.GetFeatureName()
	}
	return "request"
}

var _ = time.Second
