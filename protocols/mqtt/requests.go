package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/polis-edge/polis/protocols/mqtt/locker"
)

// operatorRequest runs a locker command an operator published on
// polis/locker/v1/<bank>/request. The operator is the broker login, never
// the payload, and the command goes through the same Commander.Do as the
// Go API: authorisation, idempotency by correlation id, audit, events.
// It runs in its own goroutine: the command may wait for the bank up to
// command_timeout and the operator's connection must not stall meanwhile.
func (s *Service) operatorRequest(operator, bank string, payload []byte) {
	req, err := decodeRequest(operator, bank, payload)
	if err != nil {
		s.stats.reject(operator, "invalid_request")
		s.log.Warn("locker request refused", "operator", operator, "bank", bank, "err", err)
		s.reply(s.runCtx, operator, bank, locker.Record{Request: req, Result: locker.ResultError, Detail: err.Error()})
		return
	}
	go func() {
		ctx := s.runCtx
		rec, err := s.cmd.Do(ctx, req)
		if ctx.Err() != nil {
			return // edge stopping: the operator retries with the same id
		}
		if err != nil {
			s.stats.reject(operator, "invalid_request")
			rec = locker.Record{Request: req, Result: locker.ResultError, Detail: err.Error()}
		}
		s.reply(ctx, operator, bank, rec)
	}()
}

// decodeRequest reads the command JSON strictly: a misspelt field is an
// error, not a silently different command.
func decodeRequest(operator, bank string, payload []byte) (locker.Request, error) {
	var req locker.Request
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	gotBank, gotOperator := req.Bank, req.Operator
	req.Bank, req.Operator = bank, operator
	switch {
	case err != nil:
		return req, fmt.Errorf("request JSON: %w", err)
	case gotBank != "" && gotBank != bank:
		return req, fmt.Errorf("bank %q in the payload is not %q of the topic", gotBank, bank)
	case gotOperator != "" && gotOperator != operator:
		return req, fmt.Errorf("operator %q in the payload is not your login %q", gotOperator, operator)
	case req.ID == "":
		return req, errors.New("id (correlation id) required")
	}
	return req, nil
}

func (s *Service) reply(ctx context.Context, operator, bank string, rec locker.Record) {
	payload, err := json.Marshal(locker.Reply{V: locker.Version, Record: rec})
	if err == nil {
		err = s.tp().publish(ctx, locker.ReplyTopic(bank, operator), payload)
	}
	if err != nil {
		s.log.Warn("locker reply not published", "operator", operator, "id", rec.ID, "err", err)
	}
}
