package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/sample"
)

// Operator is an authenticated caller of the local API.
type Operator struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// OperatorHandler serves a route that needs an authenticated operator.
type OperatorHandler func(w http.ResponseWriter, r *http.Request, op Operator)

// operatorKey is one configured operator with the token hashed, so that
// comparing takes the same time whatever the token's length or content.
type operatorKey struct {
	Operator
	sum [sha256.Size]byte
}

// loadOperators reads every operator's token once at start.
func loadOperators(ops []config.Operator) ([]operatorKey, error) {
	keys := make([]operatorKey, 0, len(ops))
	for _, o := range ops {
		tok, err := o.Secret()
		if err != nil {
			return nil, err
		}
		if len(tok) < 16 {
			return nil, fmt.Errorf("operator %s: token must be at least 16 characters", o.Name)
		}
		keys = append(keys, operatorKey{Operator: Operator{Name: o.Name, Role: o.Role}, sum: sha256.Sum256([]byte(tok))})
	}
	return keys, nil
}

// authenticate finds the operator whose token the request carries.
func (d *Daemon) authenticate(r *http.Request) (Operator, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return Operator{}, false
	}
	sum := sha256.Sum256([]byte(tok))
	var found Operator
	hit := 0
	for _, k := range d.operators { // no early exit: timing says nothing about which one matched
		if subtle.ConstantTimeCompare(sum[:], k.sum[:]) == 1 {
			found, hit = k.Operator, 1
		}
	}
	return found, hit == 1
}

// operatorOnly wraps h: 401 without a valid token, 403 when the operator's
// role is below role. Both refusals are logged without the token.
func (d *Daemon) operatorOnly(role string, h OperatorHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		op, ok := d.authenticate(r)
		if !ok {
			d.log.Warn("local API: unauthenticated request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="polis-edge"`)
			writeError(w, http.StatusUnauthorized, "a valid operator token is required (Authorization: Bearer …)")
			return
		}
		if config.RoleRank(op.Role) < config.RoleRank(role) {
			d.log.Warn("local API: operator lacks the role", "operator", op.Name, "role", op.Role, "needs", role, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, fmt.Sprintf("operator %s has role %s; this needs %s", op.Name, op.Role, role))
			return
		}
		h(w, r, op)
	}
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// APIError is the one shape of every error the local API returns.
type APIError struct {
	Error string `json:"error"`
}

// writeError answers with the API's error shape.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, APIError{Error: msg})
}

// AuditEntry is one operator action as the audit trail keeps it.
type AuditEntry struct {
	At       time.Time       `json:"at"`
	Operator string          `json:"operator"`
	Action   string          `json:"action"`
	Target   string          `json:"target"`
	Params   json.RawMessage `json:"params,omitempty"`
	Result   string          `json:"result"`
	Error    string          `json:"error,omitempty"`
}

var auditBucket = []byte("operator_audit")

// auditKeep bounds the trail: the newest entries stay, older ones go. Every
// action is also an `events` sample, so the fleet keeps the full history.
const auditKeep = 10000

// audit records an operator action in state.db and as an event. It never
// fails the action: a full disk must not stop an installer from opening a
// locker, so a failed write is logged.
func (d *Daemon) audit(op Operator, action, target string, params any, result string, err error) {
	e := AuditEntry{At: time.Now().UTC(), Operator: op.Name, Action: action, Target: target, Result: result}
	if params != nil {
		e.Params, _ = json.Marshal(params)
	}
	if err != nil {
		e.Error = err.Error()
	}
	if werr := d.state.Update(func(tx *bolt.Tx) error { return appendAudit(tx, e) }); werr != nil {
		d.log.Error("audit trail write failed", "operator", op.Name, "action", action, "err", werr)
	}
	msg := fmt.Sprintf("%s %s %s: %s", op.Name, action, target, result)
	if e.Error != "" {
		msg += " (" + e.Error + ")"
	}
	ev := sample.Event("edge", "operator_action", sample.SeverityInfo, msg, e.At,
		map[string]any{"operator": op.Name, "action": action, "target": target, "result": result}).Distinct(msg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if aerr := d.sink.Append(ctx, ev); aerr != nil {
		d.log.Error("audit event not buffered", "operator", op.Name, "action", action, "err", aerr)
	}
}

func appendAudit(tx *bolt.Tx, e AuditEntry) error {
	b, err := tx.CreateBucketIfNotExists(auditBucket)
	if err != nil {
		return err
	}
	seq, _ := b.NextSequence()
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
		return err
	}
	if seq > auditKeep { // keys are sequential: drop the one that fell out of the window
		return b.Delete(binary.BigEndian.AppendUint64(nil, seq-auditKeep))
	}
	return nil
}

// handleAudit pages the audit trail newest first: ?limit=N (default 100,
// at most 1000) and ?before=<cursor> from the previous page's next_before.
func (d *Daemon) handleAudit(w http.ResponseWriter, r *http.Request, _ Operator) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be 1..1000")
			return
		}
		limit = n
	}
	var before uint64
	if s := r.URL.Query().Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "before must be a cursor from next_before")
			return
		}
		before = n
	}
	page := struct {
		Entries    []AuditEntry `json:"entries"`
		NextBefore uint64       `json:"next_before,omitempty"`
	}{Entries: []AuditEntry{}}
	err := d.state.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(auditBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else {
			c.Seek(binary.BigEndian.AppendUint64(nil, before))
			k, v = c.Prev()
		}
		for ; k != nil && len(page.Entries) < limit; k, v = c.Prev() {
			var e AuditEntry
			if err := json.NewDecoder(bytes.NewReader(v)).Decode(&e); err != nil {
				return fmt.Errorf("audit entry %x: %w", k, err)
			}
			page.Entries = append(page.Entries, e)
			page.NextBefore = binary.BigEndian.Uint64(k)
		}
		if k == nil {
			page.NextBefore = 0
		}
		return nil
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, page)
}
