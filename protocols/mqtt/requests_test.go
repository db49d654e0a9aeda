package mqtt

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/protocols/mqtt/locker"
	"github.com/polis-edge/polis/protocols/mqtt/mqttsim"
	"github.com/polis-edge/polis/protocols/sample"
)

// operatorClient logs in as an operator and collects the edge's replies.
type operatorClient struct {
	c       paho.Client
	replies chan locker.Reply
}

func newOperatorClient(t *testing.T, url, user, pass string) *operatorClient {
	t.Helper()
	o := &operatorClient{c: mustDial(t, url, user, pass), replies: make(chan locker.Reply, 16)}
	tok := o.c.Subscribe(locker.ReplyTopic("bank1", user), 1, func(_ paho.Client, m paho.Message) {
		var r locker.Reply
		if err := json.Unmarshal(m.Payload(), &r); err != nil {
			t.Errorf("reply is not JSON: %s", m.Payload())
		}
		o.replies <- r
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil || tok.(*paho.SubscribeToken).Result()[locker.ReplyTopic("bank1", user)] != 1 {
		t.Fatalf("%s cannot subscribe to its reply topic: %v", user, tok.Error())
	}
	return o
}

func (o *operatorClient) request(t *testing.T, payload string) locker.Reply {
	t.Helper()
	publish(t, o.c, locker.Topic("bank1", locker.KindRequest), []byte(payload))
	select {
	case r := <-o.replies:
		return r
	case <-time.After(20 * time.Second):
		t.Fatalf("no reply to %s", payload)
		return locker.Reply{}
	}
}

func TestOperatorRequestsOverMQTT(t *testing.T) {
	rec := newRecorder()
	cfg := officeConfig()
	cfg.CommandTimeout = 5 * time.Second
	s := startService(t, cfg, rec, openDB(t))
	url := brokerURL(s)
	bank := mqttsim.NewBank(mqttsim.BankConfig{ID: "bank1", Password: "bank-pass", Compartments: 12}, url, 3)
	go bank.Run(t.Context())
	rec.WaitFor(t, "bank status", 1, measurement("bank1", "locker"))

	fm := newOperatorClient(t, url, "facility", "fm-pass")
	open := `{"id":"mq-1","cmd":"open","compartment":"A03","reason":"customer lost pickup code"}`
	first := fm.request(t, open)
	if first.V != 1 || first.ID != "mq-1" || first.Result != locker.ResultDone || first.Operator != "facility" || first.Bank != "bank1" {
		t.Fatalf("open over MQTT = %+v", first)
	}
	// The operator's client retries (lost the reply, say): same outcome, door opened once.
	again := fm.request(t, open)
	if again.Result != locker.ResultDone || !again.FinishedAt.Equal(first.FinishedAt) {
		t.Errorf("retry = %+v, want the first outcome", again)
	}
	if n := bank.Executed(); n != 1 {
		t.Errorf("bank executed %d commands, want 1", n)
	}
	audit, err := s.Audit("mq-1")
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, e := range audit {
		steps = append(steps, e.Step)
		if e.Operator != "facility" || e.Reason != "customer lost pickup code" || e.Compartment != "A03" {
			t.Errorf("audit entry = %+v", e)
		}
	}
	if got := strings.Join(steps, ","); !strings.HasPrefix(got, "requested,sent,done,retry") {
		t.Errorf("audit steps = %s", got)
	}
	ev := rec.WaitFor(t, "command event", 1, func(smp sample.Sample) bool {
		return event("bank1", "locker_command")(smp) && smp.Fields["correlation_id"] == "mq-1"
	})[0]
	if ev.Fields["result"] != "done" || ev.Fields["operator"] != "facility" {
		t.Errorf("command event = %v", ev.Fields)
	}

	// The clerk may open A0? only; B01 is refused, audited, never sent.
	clerk := newOperatorClient(t, url, "clerk", "clerk-pass")
	ref := clerk.request(t, `{"id":"mq-2","cmd":"open","compartment":"B01","reason":"curious"}`)
	if ref.Result != locker.ResultRefused || !strings.Contains(ref.Detail, "not authorised") {
		t.Errorf("clerk outside its pattern = %+v", ref)
	}
	// Claiming to be someone else in the payload does not help.
	spoof := clerk.request(t, `{"id":"mq-3","cmd":"open","compartment":"B01","reason":"x","operator":"facility"}`)
	if spoof.Result != locker.ResultError || !strings.Contains(spoof.Detail, "not your login") {
		t.Errorf("clerk posing as facility = %+v", spoof)
	}
	bad := clerk.request(t, `{"id":"mq-4","cmd":"open","compartmnt":"A01","reason":"typo"}`)
	if bad.Result != locker.ResultError || !strings.Contains(bad.Detail, "compartmnt") {
		t.Errorf("misspelt request = %+v", bad)
	}
	if n := bank.Executed(); n != 1 {
		t.Errorf("bank executed %d commands after refusals, want 1", n)
	}
	if a, _ := s.Audit("mq-2"); len(a) == 0 || a[len(a)-1].Step != "refused" {
		t.Errorf("refusal not audited: %+v", a)
	}
	// Nobody reads another operator's replies.
	tok := clerk.c.Subscribe(locker.ReplyTopic("bank1", "facility"), 1, nil)
	if tok.WaitTimeout(5*time.Second) && tok.Error() == nil && tok.(*paho.SubscribeToken).Result()[locker.ReplyTopic("bank1", "facility")] != 0x80 {
		t.Error("clerk may read facility's replies")
	}

	// A sensor cannot use the request topic at all.
	th := mustDial(t, url, "th-hall", "th-pass")
	th.Publish(locker.Topic("bank1", locker.KindRequest), 0, false,
		[]byte(`{"id":"mq-5","cmd":"open","compartment":"A01","reason":"x","operator":"facility"}`)).WaitTimeout(2 * time.Second)
	waitCounter(t, s, "th-hall", "rejected_acl_denied", 1)
	if a, _ := s.Audit("mq-5"); len(a) != 0 {
		t.Errorf("sensor request reached the commander: %+v", a)
	}
	if n := bank.Executed(); n != 1 {
		t.Errorf("bank executed %d commands, want 1", n)
	}
}
