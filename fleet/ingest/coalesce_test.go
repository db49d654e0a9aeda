package ingest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

func message(t *testing.T, office string, seq uint64, lines string) Message {
	t.Helper()
	n := strings.Count(lines, "\n")
	p, err := uplink.EncodeBatch(uplink.Batch{Office: office, Seq: seq, Last: seq + uint64(n) - 1, Count: n, Lines: []byte(lines)})
	if err != nil {
		t.Fatal(err)
	}
	return Message{Office: office, Payload: p}
}

// Several offices' batches go to InfluxDB in one request, and each office's
// ack still counts exactly its own lines: a refused line in one batch is
// charged to that batch only, a malformed message is rejected on its own.
func TestCoalescedWriteAcksEachBatchExactly(t *testing.T) {
	in := testserver.Influx(t)
	target, _ := url.Parse(in.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/write" || r.URL.Path == "/write" {
			requests.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ing := New(writer(t, in, srv.URL), func(string) []Tag { return []Tag{{Key: "region", Value: "Lazio"}} })
	// The field w is a float: a later string w in the same shard is refused.
	if r := handle(t, ing, "10001", "coal,device=a w=1 1780315200000000000\n"); r.Ack.Accepted != 1 {
		t.Fatalf("seed: %+v", r.Ack)
	}
	requests.Store(0)

	good := message(t, "10001", 10, "coal,device=a w=2 1780315201000000000\ncoal,device=a w=3 1780315202000000000\n")
	mixed := message(t, "10002", 20, "coal,device=b w=4 1780315201000000000\ncoal,device=b w=\"oops\" 1780315202000000000\ncoal,device=b w=5 1780315203000000000\n")
	broken := Message{Office: "10003", Payload: []byte("not zstd")}
	alone := message(t, "10004", 30, "coal,device=d w=6 1780315201000000000\n")
	res := ing.HandleMany(context.Background(), []Message{good, mixed, broken, alone})

	want := []struct {
		status             string
		accepted, rejected int
	}{{uplink.AckOK, 2, 0}, {uplink.AckOK, 2, 1}, {uplink.AckRejected, 0, 1}, {uplink.AckOK, 1, 0}}
	for i, w := range want {
		a := res[i].Ack
		if a.Status != w.status || a.Accepted != w.accepted || a.Rejected != w.rejected {
			t.Errorf("message %d: ack %+v, want %s accepted %d rejected %d", i, a, w.status, w.accepted, w.rejected)
		}
	}
	if res[1].Ack.Reasons[ReasonInfluxRejected] != 1 || res[1].Ack.Seq != 20 || res[1].Ack.Last != 22 {
		t.Errorf("the refused line is charged to its own batch: %+v", res[1].Ack)
	}
	if got := rows(t, in, "coal"); got != 1+2+2+1 {
		t.Fatalf("InfluxDB holds %d rows, want 6", got)
	}

	// Without refusals, four offices cost one request.
	requests.Store(0)
	var msgs []Message
	for i, o := range []string{"10001", "10002", "10004", "10005"} {
		msgs = append(msgs, message(t, o, 100, "coal,device=z w=9 "+[]string{"1780315210000000000", "1780315211000000000", "1780315212000000000", "1780315213000000000"}[i]+"\n"))
	}
	for i, r := range ing.HandleMany(context.Background(), msgs) {
		if r.Ack.Status != uplink.AckOK || r.Ack.Accepted != 1 {
			t.Fatalf("message %d: %+v", i, r.Ack)
		}
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("4 offices' batches took %d InfluxDB requests, want 1", n)
	}
}
