package broker

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/uplink"
)

// authHook authenticates offices (username = office id) and confines each to
// its own topic prefix. Anything not explicitly allowed is denied.
type authHook struct {
	mqtt.HookBase
	creds    atomic.Pointer[map[string][32]byte] // office id → sha256(password)
	server   *mqtt.Server
	throttle *throttle // nil: no limits
}

func (h *authHook) ID() string { return "polis-office-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnPublish
}

// setOffices swaps the credential table; connections already open keep their
// session (the caller disconnects removed offices).
func (h *authHook) setOffices(offices []config.Office) {
	m := make(map[string][32]byte, len(offices))
	for _, o := range offices {
		switch {
		case o.PasswordSHA256 != "":
			var sum [32]byte
			b, _ := hex.DecodeString(o.PasswordSHA256) // validated by config
			copy(sum[:], b)
			m[o.ID] = sum
		case o.Password != "":
			m[o.ID] = sha256.Sum256([]byte(o.Password))
		}
	}
	h.creds.Store(&m)
}

func (h *authHook) known(office string) ([32]byte, bool) {
	m := h.creds.Load()
	if m == nil {
		return [32]byte{}, false
	}
	sum, ok := (*m)[office]
	return sum, ok
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	office := string(pk.Connect.Username)
	want, ok := h.known(office)
	if !ok {
		h.Log.Warn("mqtt connect refused: unknown office", "office", office, "client", cl.ID, "remote", cl.Net.Remote)
		return false
	}
	got := sha256.Sum256(pk.Connect.Password)
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		h.Log.Warn("mqtt connect refused: wrong password", "office", office, "remote", cl.Net.Remote)
		return false
	}
	// The last will is published by the broker without an ACL check, so an
	// office could otherwise mark another office offline.
	if pk.Connect.WillFlag && !ownTopic(office, pk.Connect.WillTopic) {
		h.Log.Warn("mqtt connect refused: will outside own prefix", "office", office, "topic", pk.Connect.WillTopic)
		return false
	}
	// Checked after the password, so nobody can spend an office's connects.
	if h.throttle != nil && !h.throttle.allowConnect(office) {
		return false
	}
	// A client id taken by another office would let this one kick it off.
	if other, ok := h.server.Clients.Get(cl.ID); ok && !other.Closed() && !bytes.Equal(other.Properties.Username, pk.Connect.Username) {
		h.Log.Warn("mqtt connect refused: client id owned by another office", "office", office, "client", cl.ID)
		return false
	}
	return true
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	office := string(cl.Properties.Username)
	if _, ok := h.known(office); !ok {
		return false // removed by a reload while connected
	}
	return ownTopic(office, topic)
}

// ownTopic: office ids cannot contain wildcards (uplink.ValidOffice), so any
// topic or filter under the prefix stays inside the office's subtree.
func ownTopic(office, topic string) bool {
	return uplink.ValidOffice(office) == nil && strings.HasPrefix(topic, uplink.Prefix(office))
}
