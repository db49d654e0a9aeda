package commands

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/state"
	"github.com/polis-edge/polis/protocols/uplink"
)

// answering is a bus whose office answers inside the publish call, as the
// embedded broker's inline delivery lets a fast edge do.
type answering struct{ c *Commands }

func (a answering) Publish(topic string, payload []byte, _ byte, _ bool) error {
	var cmd uplink.Command
	if err := json.Unmarshal(payload, &cmd); err != nil {
		return err
	}
	office, _, _ := uplink.SplitTopic(topic)
	res, _ := json.Marshal(uplink.CommandResult{ID: cmd.ID, Status: uplink.CmdDone, At: time.Now()})
	a.c.Result(office, res)
	return nil
}

// TestAnswerBeforeTheSendIsRecordedWins: an office that answers before the
// fleet has recorded its send must not see its "done" replaced by "sent"
// (the command would then look unanswered forever and never be resent).
func TestAnswerBeforeTheSendIsRecordedWins(t *testing.T) {
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bus := &answering{}
	c, err := New(st, bus, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	bus.c = c
	now := time.Now().UTC()
	cmd := uplink.Command{ID: "cmd-1", Action: "charger_reset", Device: "CP01", User: "olga", Issued: now, Expires: now.Add(time.Minute)}
	if _, _, err := c.Send(cmd, alarms.Place{Office: "10001"}); err != nil {
		t.Fatal(err)
	}
	rec, err := c.Get("cmd-1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != uplink.CmdDone || rec.Answered.IsZero() {
		t.Fatalf("stored %q (answered %v), want the office's done", rec.Status, rec.Answered)
	}
}
