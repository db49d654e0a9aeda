package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/polis-edge/polis/protocols/mqtt/mapping"
	"github.com/polis-edge/polis/protocols/testserver"
)

// rawClient speaks MQTT byte by byte, to do what a well-behaved library
// will not: resend with DUP, ignore a PUBACK, publish to $SYS.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	ver  byte
}

func rawDial(t *testing.T, addr net.Addr, clientID, user, pass string, clean bool, version byte) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawClient{t: t, conn: c, r: bufio.NewReader(c), ver: version}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: clean, Keepalive: 60, ClientIdentifier: clientID,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pass)}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	rc.write(buf.Bytes())
	typ, body := rc.read()
	if typ != packets.Connack || len(body) < 2 || body[1] != 0 {
		t.Fatalf("connect %s: packet %d %v", clientID, typ, body)
	}
	return rc
}

func (rc *rawClient) write(b []byte) {
	rc.t.Helper()
	rc.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.conn.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawClient) publish(topic string, payload []byte, qos byte, id uint16, dup bool) {
	rc.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Dup: dup},
		ProtocolVersion: rc.ver, TopicName: topic, Payload: payload, PacketID: id}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		rc.t.Fatal(err)
	}
	rc.write(buf.Bytes())
}

// readPacket returns the next packet's type and body, or an error (io.EOF
// when the broker closed the connection without sending anything).
func (rc *rawClient) readPacket() (byte, []byte, error) {
	rc.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	h, err := rc.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for {
		b, err := rc.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			break
		}
		mult *= 128
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rc.r, body); err != nil {
		return 0, nil, err
	}
	return h >> 4, body, nil
}

func (rc *rawClient) read() (byte, []byte) {
	rc.t.Helper()
	typ, body, err := rc.readPacket()
	if err != nil {
		rc.t.Fatal(err)
	}
	return typ, body
}

// expectPuback reads the PUBACK for id and returns its reason code (0 for
// MQTT 3.1.1).
func (rc *rawClient) expectPuback(id uint16) byte {
	rc.t.Helper()
	typ, body := rc.read()
	if typ != packets.Puback || len(body) < 2 || uint16(body[0])<<8|uint16(body[1]) != id {
		rc.t.Fatalf("want PUBACK %d, got packet %d %v", id, typ, body)
	}
	if len(body) > 2 {
		return body[2]
	}
	return 0
}

// A QoS 1 resend after a lost PUBACK (same packet id, DUP set, on a new
// connection of the persistent session) is acknowledged without a second row.
func TestRedeliveryAfterLostPubackIsStoredOnce(t *testing.T) {
	rec := newRecorder()
	s := startService(t, officeConfig(), rec, openDB(t))
	first := rawDial(t, s.Addr(), "th-hall", "th-hall", "th-pass", false, 4)
	first.publish("zigbee2mqtt/th-hall", []byte(`{"temperature": 21.5}`), 1, 7, false)
	first.expectPuback(7)
	first.conn.Close() // as if that PUBACK had been lost with the connection

	again := rawDial(t, s.Addr(), "th-hall", "th-hall", "th-pass", false, 4)
	again.publish("zigbee2mqtt/th-hall", []byte(`{"temperature": 21.5}`), 1, 7, true)
	again.expectPuback(7)
	// A new message reusing the packet id (no DUP) is a new reading.
	again.publish("zigbee2mqtt/th-hall", []byte(`{"temperature": 22}`), 1, 7, false)
	again.expectPuback(7)
	got := rec.WaitFor(t, "second reading", 2, measurement("th-hall", "env"))
	if n := len(rec.Find(measurement("th-hall", "env"))); n != 2 {
		t.Fatalf("%d rows, want 2 (the redelivery stored again): %v", n, got)
	}
	waitCounter(t, s, "th-hall", "redeliveries_dropped", 1)
}

// A poison message (a topic segment mapped to a tag that line protocol
// cannot carry) is acknowledged and counted, and the device's stream goes on.
func TestPoisonTopicSegmentIsAcknowledgedAndCounted(t *testing.T) {
	rec := newRecorder()
	cfg := officeConfig()
	cfg.Devices = append(cfg.Devices, Device{ID: "gw", Password: "gw-pass", Topic: "site/gw",
		Mapping: []mapping.Rule{{Match: "+", Measurement: "env", Tags: map[string]string{"room": "$3"},
			Fields: []mapping.Field{{Name: "temperature_c", Path: "t"}}}}})
	s := startService(t, cfg, rec, openDB(t))
	c := rawDial(t, s.Addr(), "gw", "gw", "gw-pass", true, 4)
	c.publish("site/gw/hall\nx", []byte(`{"t": 20}`), 1, 1, false)
	c.expectPuback(1)
	c.publish(`site/gw/hall\`, []byte(`{"t": 20}`), 1, 2, false)
	c.expectPuback(2)
	c.publish("site/gw/hall", []byte(`{"t": 21}`), 1, 3, false)
	c.expectPuback(3)
	rec.WaitFor(t, "good reading", 1, measurement("gw", "env"))
	waitCounter(t, s, "gw", "rejected_invalid_tag", 2)
}

// A QoS 1 publish to $SYS gets PUBACK "not authorised" (MQTT 5) or the
// documented disconnect (MQTT 3.1.1), never silence; and a 3.1.1 client is
// never sent a DISCONNECT packet (3.1.1 has no server DISCONNECT).
func TestSysPublishAndNoDisconnectPacketFor311(t *testing.T) {
	s := startService(t, officeConfig(), newRecorder(), openDB(t))
	v5 := rawDial(t, s.Addr(), "th-hall-5", "th-hall", "th-pass", true, 5)
	v5.publish("$SYS/broker/x", []byte("1"), 1, 9, false)
	if code := v5.expectPuback(9); code != packets.ErrNotAuthorized.Code {
		t.Errorf("MQTT 5 $SYS publish: PUBACK reason %#x, want %#x", code, packets.ErrNotAuthorized.Code)
	}
	for _, topic := range []string{"$SYS/broker/x", "zigbee2mqtt/air-hall"} {
		v3 := rawDial(t, s.Addr(), "th-hall-3", "th-hall", "th-pass", true, 4)
		v3.publish(topic, []byte(`{"temperature": 20}`), 1, 9, false)
		typ, body, err := v3.readPacket()
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
			t.Errorf("MQTT 3.1.1 publish to %s: got packet %d %v (err %v), want the connection closed without a packet", topic, typ, body, err)
		}
	}
	waitCounter(t, s, "th-hall", "rejected_acl_denied", 3)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// Each refused publish is one log line naming reason, username, client id
// and topic; the payload never reaches the log. Zigbee2MQTT bridge and
// Tasmota stat chatter, which the ACL allows, is not counted as refused.
func TestRefusalLogAndAllowedChatter(t *testing.T) {
	var logs testserver.SyncBuffer
	cfg := officeConfig()
	cfg.Listen = "127.0.0.1:0"
	s, err := New(cfg, openDB(t), newRecorder(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testserver.WaitFor(t, "broker bound", func() bool { return s.Addr() != nil && s.Addr().(*net.TCPAddr).Port != 0 })

	v5 := rawDial(t, s.Addr(), "th-hall-5", "th-hall", "th-pass", true, 5)
	v5.publish("zigbee2mqtt/air-hall", []byte(`{"secret-payload": 1}`), 1, 3, false)
	if code := v5.expectPuback(3); code != packets.ErrNotAuthorized.Code {
		t.Fatalf("PUBACK reason %#x", code)
	}
	gw := rawDial(t, s.Addr(), "z2m", "z2m", "z2m-pass", true, 4)
	gw.publish("zigbee2mqtt/bridge/state", []byte(`online`), 1, 1, false)
	gw.expectPuback(1)
	plug := rawDial(t, s.Addr(), "plug-ac", "plug-ac", "plug-pass", true, 4)
	plug.publish("stat/plug-ac/RESULT", []byte(`{"POWER":"ON"}`), 1, 1, false)
	plug.expectPuback(1)

	waitCounter(t, s, "th-hall", "rejected_acl_denied", 1)
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "refused") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one refusal line, got %d:\n%s", len(lines), logs.String())
	}
	for _, want := range []string{"reason=acl_denied", "username=th-hall", "client_id=th-hall-5", "topic=zigbee2mqtt/air-hall"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("refusal line lacks %s: %s", want, lines[0])
		}
	}
	if strings.Contains(logs.String(), "secret-payload") {
		t.Errorf("payload in the log:\n%s", logs.String())
	}
	for k, n := range s.Rejected() {
		if k[1] == "unknown_topic" {
			t.Errorf("allowed chatter counted as refused: %v = %d", k, n)
		}
	}
}
