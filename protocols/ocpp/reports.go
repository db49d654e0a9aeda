package ocpp

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"

	sc201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/smartcharging"
)

// 2.0.1 GetChargingProfiles (K09) is answered Accepted/NoProfiles at once;
// the profiles themselves come in ReportChargingProfiles messages carrying
// the request's requestId, the last one without tbc. Send collects them so
// an operator gets the profiles, not only "Accepted".

// reportWaits holds the GetChargingProfiles requests waiting for reports,
// by charger and requestId.
type reportWaits struct {
	mu      sync.Mutex
	waits   map[string]*reportWait
	nextReq atomic.Int64
}

type reportWait struct {
	reports []json.RawMessage
	done    chan struct{}
	closed  bool
}

func reportKey(chargerID string, requestID int) string {
	return chargerID + "/" + strconv.Itoa(requestID)
}

// open registers a wait before the request leaves (a report may arrive
// before the answer's callback runs).
func (r *reportWaits) open(key string) *reportWait {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waits == nil {
		r.waits = map[string]*reportWait{}
	}
	w := &reportWait{done: make(chan struct{})}
	r.waits[key] = w
	return w
}

func (r *reportWaits) close(key string) {
	r.mu.Lock()
	delete(r.waits, key)
	r.mu.Unlock()
}

// add files a report; false when nobody waits for it (unsolicited, late).
func (r *reportWaits) add(key string, raw json.RawMessage, last bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.waits[key]
	if w == nil || w.closed {
		return false
	}
	w.reports = append(w.reports, raw)
	if last {
		w.closed = true
		close(w.done)
	}
	return true
}

// snapshot returns the reports so far and whether the last one came.
func (r *reportWaits) snapshot(w *reportWait) ([]json.RawMessage, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]json.RawMessage(nil), w.reports...), w.closed
}

// onReport is the ReportChargingProfiles handler's part.
func (s *Service) onReport(chargerID string, r *sc201.ReportChargingProfilesRequest) {
	raw, _ := json.Marshal(r)
	if !s.reports.add(reportKey(chargerID, r.RequestID), raw, !r.Tbc) {
		s.stats.inc(chargerID, "report_charging_profiles_unsolicited")
	}
}

// ProfileReports is what Send adds to a 2.0.1 GetChargingProfiles answer.
type ProfileReports struct {
	RequestID int               `json:"requestId"`
	Complete  bool              `json:"complete"` // the report without tbc arrived in time
	Reports   []json.RawMessage `json:"reports"`  // ReportChargingProfiles payloads, in order
}

// getChargingProfiles sends a GetChargingProfiles with a requestId of the
// service's own (the operator's is replaced: two operators must not share
// one) and, once Accepted, waits up to the command timeout for the reports.
func (s *Service) getChargingProfiles(ctx context.Context, chargerID string, req *sc201.GetChargingProfilesRequest) (*sc201.GetChargingProfilesResponse, *ProfileReports, error) {
	req.RequestID = int(s.reports.nextReq.Add(1))
	key := reportKey(chargerID, req.RequestID)
	w := s.reports.open(key)
	defer s.reports.close(key)
	resp, err := s.call(ctx, chargerID, nil, req)
	if err != nil {
		return nil, nil, err
	}
	r, _ := resp.(*sc201.GetChargingProfilesResponse)
	out := &ProfileReports{RequestID: req.RequestID, Reports: []json.RawMessage{}}
	if r == nil || r.Status != sc201.GetChargingProfileStatusAccepted {
		out.Complete = true // NoProfiles: nothing will come
		return r, out, nil
	}
	wait, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	defer cancel()
	select {
	case <-w.done:
	case <-wait.Done():
	}
	out.Reports, out.Complete = s.reports.snapshot(w)
	return r, out, nil
}
