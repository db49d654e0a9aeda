package mqtt

import (
	"crypto/subtle"
	"strings"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// admission decides who may connect, before mochi registers the session.
// It runs in mochi's OnConnect hook so each refusal gets its own CONNACK
// code (OnConnectAuthenticate can only say "bad username or password").
//
// Client ids: MQTT lets a new connection with an existing client id take
// over that session, which would let any device with valid credentials
// knock another off the broker (and inherit its subscriptions). The rule:
//   - a client id equal to a configured username or device id, or starting
//     with "<that name>-", is reserved for that username (the longest such
//     name decides);
//   - any other client id belongs to the username whose session holds it
//     (connected, or persistent and waiting) until that session ends.
//
// A username may always take over its own sessions (a device reconnecting).
type admission struct {
	owners map[string]string // reserved name → username allowed to use it
	mu     sync.Mutex
	claims map[string]string // client id → username, between admission and session registration
}

func newAdmission(cfg Config) *admission {
	a := &admission{owners: map[string]string{}, claims: map[string]string{}}
	for _, o := range cfg.Operators {
		a.owners[o.Username] = o.Username
	}
	for _, d := range cfg.Devices {
		a.owners[d.Username] = d.Username
		a.owners[d.ID] = d.Username
	}
	return a
}

// reservedFor returns the username a client id is reserved for, if any.
func (a *admission) reservedFor(clientID string) (string, bool) {
	best, owner := -1, ""
	for name, user := range a.owners {
		if (clientID == name || strings.HasPrefix(clientID, name+"-")) && len(name) > best {
			best, owner = len(name), user
		}
	}
	return owner, best >= 0
}

// admit returns CodeSuccess and claims the client id, or the CONNACK code
// and the counter reason of the refusal.
func (h *hook) admit(cl *mochi.Client, user string, password []byte) (packets.Code, string) {
	e := h.e
	if atomic.LoadInt64(&e.srv.Info.ClientsConnected) >= int64(e.s.cfg.Limits.MaxClients) {
		return packets.ErrServerUnavailable, "max_clients"
	}
	want, ok := e.acl.passwords[user]
	if !ok || subtle.ConstantTimeCompare([]byte(want), password) != 1 {
		return packets.ErrBadUsernameOrPassword, "auth_failed"
	}
	a := e.admission
	if owner, reserved := a.reservedFor(cl.ID); reserved && owner != user {
		return packets.ErrClientIdentifierNotValid, "client_id_taken"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if existing, ok := e.srv.Clients.Get(cl.ID); ok &&
		(existing.Net.Inline || string(existing.Properties.Username) != user) {
		return packets.ErrClientIdentifierNotValid, "client_id_taken"
	}
	if claimant, ok := a.claims[cl.ID]; ok && claimant != user {
		return packets.ErrClientIdentifierNotValid, "client_id_taken"
	}
	a.claims[cl.ID] = user
	return packets.CodeSuccess, ""
}

// registered drops the claim once mochi holds the session (or gave up).
func (a *admission) registered(clientID string) {
	a.mu.Lock()
	delete(a.claims, clientID)
	a.mu.Unlock()
}
