package mqtt

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/time/rate"

	"github.com/polis-edge/polis/protocols/mqtt/brokerlisten"
	"github.com/polis-edge/polis/protocols/mqtt/locker"
)

// embedded is the office broker. Device messages are handled inside the
// publishing client's own goroutine (mochi's OnPublish hook) before the
// PUBACK is written, so a QoS 1 message is acknowledged only once the
// buffer holds it, and a slow or flooding device delays nobody else.
type embedded struct {
	s         *Service
	srv       *mochi.Server
	acl       *acl
	admission *admission
	bound     atomic.Pointer[net.TCPAddr]
	listeners sync.Map // listener id → *net.TCPAddr
	closed    atomic.Bool
	dups      *redeliveries
	hook      *hook
}

func newEmbedded(s *Service) (*embedded, error) {
	caps := mochi.NewDefaultServerCapabilities()
	// Hard cap well above max_payload: payloads in between are refused and
	// counted per device by the hook; only absurd packets cost the connection.
	caps.MaximumPacketSize = uint32(4*s.cfg.Limits.MaxPayload + 4096)
	caps.MaximumClientWritesPending = 1024
	// Sensor messages are small: 1 KiB socket buffers instead of 2 KiB
	// save about 1 MB per 500 clients and cost nothing measurable.
	srv := mochi.New(&mochi.Options{InlineClient: true, Capabilities: caps,
		ClientNetReadBufferSize: 1024, ClientNetWriteBufferSize: 1024,
		Logger: slog.New(withoutPackets{s.log.With("part", "broker").Handler()}), SysTopicResendInterval: 60})
	e := &embedded{s: s, srv: srv, acl: newACL(s.cfg), admission: newAdmission(s.cfg), dups: newRedeliveries(s.cfg.Limits.MaxClients)}
	h := &hook{e: e}
	e.hook = h
	if err := srv.AddHook(h, nil); err != nil {
		return nil, fmt.Errorf("broker hook: %w", err)
	}
	return e, nil
}

func (e *embedded) start(context.Context) error {
	cfg := e.s.cfg
	tcp := brokerlisten.NewTCP(ListenerTCP, cfg.Listen, nil)
	if err := e.add(tcp, "listen "+cfg.Listen); err != nil {
		return err
	}
	if a, err := net.ResolveTCPAddr("tcp", tcp.Address()); err == nil {
		e.bound.Store(a)
	}
	if cfg.TLS != nil {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return fmt.Errorf("mqtt.tls: %w", err)
		}
		l := brokerlisten.NewTCP(ListenerTLS, cfg.TLS.Listen,
			&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err := e.add(l, "listen tls "+cfg.TLS.Listen); err != nil {
			return err
		}
	}
	if cfg.WebSocket != nil {
		l := newWSListener(ListenerWebSocket, cfg.WebSocket.Listen, int64(e.srv.Options.Capabilities.MaximumPacketSize))
		if err := e.add(l, "listen websocket "+cfg.WebSocket.Listen); err != nil {
			return err
		}
	}
	return e.srv.Serve()
}

// add binds a listener and remembers its address (":0" resolved).
func (e *embedded) add(l listeners.Listener, what string) error {
	if err := e.srv.AddListener(l); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if a, err := net.ResolveTCPAddr("tcp", l.Address()); err == nil {
		e.listeners.Store(l.ID(), a)
	}
	return nil
}

// Listener ids for Service.ListenerAddr.
const (
	ListenerTCP       = "tcp"
	ListenerTLS       = "tls"
	ListenerWebSocket = "ws"
)

func (e *embedded) publish(_ context.Context, topic string, payload []byte) error {
	return e.srv.Publish(topic, payload, false, 1)
}

func (e *embedded) addr() net.Addr {
	if a := e.bound.Load(); a != nil {
		return a
	}
	return nil
}

func (e *embedded) stop() {
	if e.closed.CompareAndSwap(false, true) {
		_ = e.srv.Close()
	}
}

// conn is what the broker knows about one authenticated connection.
type conn struct {
	username string
	bucket   *rate.Limiter
}

type hook struct {
	mochi.HookBase
	e        *embedded
	conns    sync.Map // *mochi.Client → *conn
	suspects sync.Map // *mochi.Client → true: closed at the last sweep
}

func (h *hook) ID() string { return "polis-mqtt" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnConnect, mochi.OnConnectAuthenticate, mochi.OnSessionEstablished,
		mochi.OnACLCheck, mochi.OnDisconnect, mochi.OnPublish, mochi.OnWillSent,
		mochi.OnPacketRead, mochi.OnPacketEncode}, []byte{b})
}

// OnPacketRead refuses a QoS ≥ 1 publish to a $SYS topic, which mochi
// drops silently before any hook (neither PUBACK nor disconnect, so the
// device would wait forever). Like any ACL breach: MQTT 5 gets PUBACK 0x87
// "not authorised", MQTT 3.1.1 is disconnected.
func (h *hook) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 || cl.Net.Inline ||
		len(pk.TopicName) < 4 || !strings.EqualFold(pk.TopicName[:4], "$SYS") {
		return pk, nil
	}
	user := string(cl.Properties.Username)
	if v, ok := h.conns.Load(cl); ok {
		user = v.(*conn).username
	}
	h.refusePublish(cl, user, pk.TopicName, "acl_denied")
	if cl.Properties.ProtocolVersion == 5 {
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID,
			ReasonCode: packets.ErrNotAuthorized.Code}
		return pk, cl.WritePacket(ack) // mochi then drops the publish
	}
	return pk, packets.ErrRejectPacket // ends the read loop: the connection closes
}

// OnPacketEncode keeps DISCONNECT packets from MQTT 3.1.1 clients: only the
// client sends DISCONNECT in 3.1.1, the server just closes the connection.
// A packet of type 0 fails to encode, so mochi writes nothing and closes.
func (h *hook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Disconnect && cl.Properties.ProtocolVersion < 5 {
		pk.FixedHeader.Type = packets.Reserved
	}
	return pk
}

// OnConnect admits or refuses a connection with its own CONNACK code:
// server unavailable (3) when full, not authorised (5) for bad credentials,
// identifier rejected (2) for another username's client id.
func (h *hook) OnConnect(cl *mochi.Client, pk packets.Packet) error {
	user := string(cl.Properties.Username)
	code, reason := h.admit(cl, user, pk.Connect.Password)
	if code == packets.CodeSuccess {
		lim := h.e.s.cfg.Limits
		h.conns.Store(cl, &conn{username: user, bucket: newLimiter(lim.MaxPublishRate, lim.PublishBurst)})
		return nil
	}
	h.refuseUser(user, reason)
	h.e.s.log.Warn("mqtt connection refused", "reason", reason, "username", user, "client_id", cl.ID, "remote", cl.Net.Remote)
	if err := h.e.srv.SendConnack(cl, code, false, nil); err != nil {
		return fmt.Errorf("refuse %s: %w", cl.ID, err)
	}
	return code
}

// OnConnectAuthenticate only confirms OnConnect's decision: mochi refuses
// every client unless some hook authenticates it.
func (h *hook) OnConnectAuthenticate(cl *mochi.Client, _ packets.Packet) bool {
	_, ok := h.conns.Load(cl)
	return ok
}

func (h *hook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	h.e.admission.registered(cl.ID)
}

// refuseUser counts a refusal on the devices of that username, or as an
// anonymous refusal if no device has it.
func (h *hook) refuseUser(user, reason string) {
	s := h.e.s
	devs := s.byUser[user]
	if len(devs) == 0 {
		if !s.isOperator(user) {
			user = "" // unknown usernames must not grow the metrics
		}
		s.stats.reject(user, reason)
		return
	}
	for _, d := range devs {
		d.reject(reason, "from "+user)
		s.stats.reject(d.cfg.ID, reason)
	}
}

func (h *hook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	c, ok := h.conns.Load(cl)
	if !ok {
		return false
	}
	user := c.(*conn).username
	if h.e.acl.allowed(user, topic, write) {
		return true
	}
	if write {
		h.refusePublish(cl, user, topic, "acl_denied")
	} else {
		h.refuseUser(user, "acl_denied")
		h.e.s.log.Warn("mqtt subscription refused", "reason", "acl_denied", "username", user, "client_id", cl.ID, "filter", topic)
	}
	return false
}

// refusePublish counts and logs one refused publish: one line with the
// reason, username, client id and topic, never the payload.
func (h *hook) refusePublish(cl *mochi.Client, user, topic, reason string) {
	h.refuseUser(user, reason)
	h.e.s.log.Warn("mqtt publish refused", "reason", reason, "username", user, "client_id", cl.ID, "topic", topic)
}

func (h *hook) OnDisconnect(cl *mochi.Client, err error, _ bool) {
	h.e.admission.registered(cl.ID)
	c, ok := h.conns.LoadAndDelete(cl)
	if ok && err != nil && !errors.Is(err, packets.CodeDisconnect) {
		h.e.s.clientDropped(c.(*conn).username)
	}
}

// OnPublish enforces limits, then hands the message to the service.
func (h *hook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	v, ok := h.conns.Load(cl)
	if !ok {
		return pk, packets.ErrRejectPacket
	}
	c := v.(*conn)
	lim := h.e.s.cfg.Limits
	switch {
	case len(pk.Payload) > int(lim.MaxPayload):
		h.refusePublish(cl, c.username, pk.TopicName, "oversized")
		return pk, refusal(cl, packets.ErrPacketTooLarge)
	case !c.bucket.Allow():
		h.refusePublish(cl, c.username, pk.TopicName, "rate_limited")
		return pk, refusal(cl, packets.ErrQuotaExceeded)
	}
	var sum uint64
	if pk.FixedHeader.Qos > 0 {
		sum = messageSum(pk.TopicName, pk.Payload)
		if pk.FixedHeader.Dup && h.e.dups.isRedelivery(cl.ID, pk.PacketID, sum) {
			// Resent after a lost PUBACK: the buffer already holds it.
			if d, _ := h.e.s.route(pk.TopicName); d != nil {
				d.count("redeliveries_dropped", 1)
			}
			return pk, packets.CodeSuccessIgnore
		}
	}
	if bank, kind, ok := locker.ParseTopic(pk.TopicName); ok && kind == locker.KindRequest {
		// The ACL let only operators covering this bank publish here.
		h.e.s.operatorRequest(c.username, bank, pk.Payload)
		return pk, packets.CodeSuccessIgnore // the edge answers; nobody else hears it
	}
	if err := h.e.s.handle(context.Background(), pk.TopicName, pk.Payload); err != nil {
		// Not durable: no PUBACK, so the device keeps the message and resends it.
		h.e.s.log.Warn("message not buffered; not acknowledged", "topic", pk.TopicName, "err", err)
		return pk, packets.ErrRejectPacket
	}
	if pk.FixedHeader.Qos > 0 {
		h.e.dups.stored(cl.ID, pk.PacketID, sum)
	}
	return pk, nil
}

// refusal tells an MQTT 5 client why (PUBACK reason code). MQTT 3.1.1 has
// no negative PUBACK, so the message is acknowledged and dropped; resending
// a flood or an oversized payload would not help.
func refusal(cl *mochi.Client, code packets.Code) error {
	if cl.Properties.ProtocolVersion == 5 {
		return code
	}
	return packets.CodeSuccessIgnore
}

// OnWillSent handles a last will like a message from that client: for
// devices following the availability conventions it marks them offline.
func (h *hook) OnWillSent(cl *mochi.Client, pk packets.Packet) {
	v, ok := h.conns.Load(cl)
	user := string(cl.Properties.Username)
	if ok {
		user = v.(*conn).username
	}
	if !h.e.acl.allowed(user, pk.TopicName, true) {
		return
	}
	if err := h.e.s.handle(context.Background(), pk.TopicName, pk.Payload); err != nil {
		h.e.s.log.Warn("last will not buffered", "topic", pk.TopicName, "err", err)
	}
}

// newLimiter is one client's (or, in external mode, one device's) publish
// rate limit: rate messages per second sustained, burst at once.
func newLimiter(r float64, burst int) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(r), burst)
}

// withoutPackets drops mochi's packet dumps from its log records: they hold
// the payload (a device's data, possibly a credential) and run to kilobytes.
// The hook logs each refusal itself, one line with what an operator needs.
type withoutPackets struct{ slog.Handler }

func (w withoutPackets) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "pk" && a.Key != "packet" {
			out.AddAttrs(a)
		}
		return true
	})
	return w.Handler.Handle(ctx, out)
}

func (w withoutPackets) WithAttrs(as []slog.Attr) slog.Handler {
	return withoutPackets{w.Handler.WithAttrs(as)}
}

func (w withoutPackets) WithGroup(name string) slog.Handler {
	return withoutPackets{w.Handler.WithGroup(name)}
}

// sweep releases what mochi never tells the hooks about: when writing the
// CONNACK fails, mochi returns without OnDisconnect, leaving the hook's
// connection entry, the client id claim and mochi's own client record
// behind for good. A connection closed for two sweeps in a row without
// OnDisconnect is such a leftover (one sweep apart leaves a normal
// disconnect time to run its hook).
func (h *hook) sweep() {
	h.conns.Range(func(k, _ any) bool {
		cl := k.(*mochi.Client)
		if !cl.Closed() {
			h.suspects.Delete(cl)
			return true
		}
		if _, again := h.suspects.LoadOrStore(cl, true); !again {
			return true
		}
		h.suspects.Delete(cl)
		h.conns.Delete(cl)
		h.e.admission.registered(cl.ID)
		if cur, ok := h.e.srv.Clients.Get(cl.ID); ok && cur == cl && cl.Properties.Clean {
			h.e.srv.Clients.Delete(cl.ID)
		}
		h.e.s.log.Warn("mqtt connection state released after a failed CONNACK", "client_id", cl.ID)
		return true
	})
}
