// Package mqttprobe is `polis-edge probe mqtt`: it shows an installer a
// device's raw MQTT payloads and, for each, the samples our mapping would
// extract (measurement, tags, fields) or the reason it would refuse them, so
// a preset or custom mapping can be checked against the real device on site.
//
// Two ways to see the messages: listen (the default) runs a throw-away broker
// where the office broker would be, accepting any login, for the embedded
// mode with the daemon stopped; -broker subscribes on an existing broker (the
// site broker in external mode).
package mqttprobe

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/polis-edge/polis/protocols/mqtt"
	"github.com/polis-edge/polis/protocols/mqtt/brokerlisten"
	"github.com/polis-edge/polis/protocols/mqtt/mapping"
	"github.com/polis-edge/polis/protocols/sample"
)

// Options configure a probe. Device is a configured device after defaults
// (its Topic set), as edge/config loads it.
type Options struct {
	Device   mqtt.Device
	Listen   string // own broker address (listen mode), e.g. 0.0.0.0:1883
	Broker   string // subscribe mode: tcp://host:1883
	Username string // subscribe mode credentials
	Password string
	Messages int // stop after this many messages; 0 = until ctx ends
	Out      io.Writer
	// Bound, if set, receives the listen address once the broker serves.
	Bound func(addr string)
}

type probe struct {
	o     Options
	m     *mapping.Mapping
	tags  map[string]string
	mu    sync.Mutex
	n     int
	done  chan struct{}
	once  sync.Once
	topic string
}

// Run shows messages until ctx ends or Messages were seen.
func Run(ctx context.Context, o Options) error {
	d := o.Device
	if d.Kind == mqtt.KindLocker {
		return fmt.Errorf("probe mqtt: %s is a locker bank: its protocol is docs/locker-protocol.md, not a mapping", d.ID)
	}
	rules := d.Mapping
	if d.Preset != "" {
		var err error
		if rules, err = mapping.Preset(d.Preset); err != nil {
			return err
		}
	}
	m, err := mapping.Compile(rules)
	if err != nil {
		return fmt.Errorf("probe mqtt: device %s mapping%w", d.ID, err)
	}
	p := &probe{o: o, m: m, done: make(chan struct{}), topic: d.Topic,
		tags: map[string]string{sample.TagDevice: d.ID}}
	maps.Copy(p.tags, d.Tags)
	if d.Room != "" {
		p.tags["room"] = d.Room
	}
	if o.Broker != "" {
		err = p.subscribe(ctx)
	} else {
		err = p.listen(ctx)
	}
	return err
}

func (p *probe) filter() string { return p.topic + "/#" }

func (p *probe) listen(ctx context.Context) error {
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return err
	}
	tcp := brokerlisten.NewTCP("probe", p.o.Listen, nil)
	if err := srv.AddListener(tcp); err != nil {
		return fmt.Errorf("probe mqtt: listen %s: %w", p.o.Listen, err)
	}
	handler := func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) { p.show(pk.TopicName, pk.Payload) }
	for _, f := range []string{p.topic, p.filter()} {
		if err := srv.Subscribe(f, 1, handler); err != nil {
			return err
		}
	}
	if err := srv.Serve(); err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(p.o.Out, "listening on mqtt://%s (any login accepted) for %s's messages on %s\n", tcp.Address(), p.o.Device.ID, p.filter())
	if p.o.Bound != nil {
		p.o.Bound(tcp.Address())
	}
	p.wait(ctx)
	return nil
}

func (p *probe) subscribe(ctx context.Context) error {
	o := paho.NewClientOptions().AddBroker(p.o.Broker).SetClientID(fmt.Sprintf("polis-probe-%d", time.Now().UnixNano())).
		SetUsername(p.o.Username).SetPassword(p.o.Password).SetCleanSession(true).SetAutoReconnect(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("probe mqtt: connect %s: %v", p.o.Broker, tok.Error())
	}
	defer c.Disconnect(100)
	filters := map[string]byte{p.topic: 1, p.filter(): 1}
	if tok := c.SubscribeMultiple(filters, func(_ paho.Client, m paho.Message) { p.show(m.Topic(), m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("probe mqtt: subscribe %s: %v", p.filter(), tok.Error())
	}
	fmt.Fprintf(p.o.Out, "subscribed to %s on %s for %s's messages\n", p.filter(), p.o.Broker, p.o.Device.ID)
	p.wait(ctx)
	return nil
}

func (p *probe) wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-p.done:
	}
}

// show prints one message and what the mapping makes of it.
func (p *probe) show(topic string, payload []byte) {
	rel := strings.TrimPrefix(strings.TrimPrefix(topic, p.topic), "/")
	samples, rejects := p.m.Apply(topic, rel, payload, p.tags, time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	fmt.Fprintf(p.o.Out, "%s %s\n", topic, payload)
	for _, s := range samples {
		fmt.Fprintf(p.o.Out, "  → %s %s %s\n", s.Measurement, kv(s.Tags), kv(s.Fields))
	}
	for _, r := range rejects {
		fmt.Fprintf(p.o.Out, "  ✗ %s: %s\n", r.Reason, r.Detail)
	}
	if len(samples) == 0 && len(rejects) == 0 {
		fmt.Fprintln(p.o.Out, "  (accepted, no sample: status chatter the mapping ignores)")
	}
	p.n++
	if p.o.Messages > 0 && p.n >= p.o.Messages {
		p.once.Do(func() { close(p.done) })
	}
}

func kv[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, m[k])
	}
	return strings.Join(parts, ",")
}
