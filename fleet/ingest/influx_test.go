package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/influx"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

func writer(t *testing.T, in *testserver.InfluxDB, rawURL string) *influx.Writer {
	w := influx.New(config.Influx{URL: rawURL, Token: in.Token, Org: in.Org, Bucket: in.Bucket, Timeout: 10 * time.Second}, 1)
	t.Cleanup(w.Close)
	return w
}

func handle(t *testing.T, ing *Ingester, office string, lines string) Result {
	t.Helper()
	n := strings.Count(lines, "\n")
	payload, err := uplink.EncodeBatch(uplink.Batch{Office: office, Seq: 1, Last: uint64(n), Count: n, Lines: []byte(lines)})
	if err != nil {
		t.Fatal(err)
	}
	return ing.Handle(context.Background(), office, payload)
}

func rows(t *testing.T, in *testserver.InfluxDB, m string) int {
	t.Helper()
	n, err := in.Count(m, "")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The ack's counts must match what InfluxDB stored, whatever InfluxDB's
// answer says: a line with a leading space (the fleet would splice its tags
// before the measurement), a line ending in '\r', a field type conflict
// (partial write with a count) and a field named "time" (refused) in the same
// batch as good lines.
func TestAckCountsMatchWhatInfluxStored(t *testing.T) {
	in := testserver.Influx(t)
	ing := New(writer(t, in, in.URL), func(string) []Tag { return nil })
	if r := handle(t, ing, "47011", "acct,device=a w=1 1780315200000000000\n"); r.Ack.Accepted != 1 || r.Err != nil {
		t.Fatalf("first write: %+v", r)
	}
	lines := "" +
		"acct,device=b w=2 1780315200000000000\n" +
		" acct,device=c w=3 1780315200000000000\n" +
		"acct,device=d w=4 1780315200000000000\r\n" +
		"acct,device=e w=\"text\" 1780315201000000000\n" +
		"acct,device=f time=5 1780315200000000000\n" +
		"acct,device=g w=6 1780315200000000000\n" +
		"acct,device=h w=7 1780315200000000000\n"
	r := handle(t, ing, "47011", lines)
	stored := rows(t, in, "acct") - 1
	if r.Ack.Status != uplink.AckOK || r.Ack.Accepted != stored || r.Ack.Accepted+r.Ack.Rejected != 7 {
		t.Fatalf("ack %+v, but InfluxDB stored %d of the 7 lines", r.Ack, stored)
	}
	if stored != 3 || r.Ack.Reasons[ReasonInfluxRejected] != 2 {
		t.Fatalf("want b, g, h stored and 2 lines refused by InfluxDB; stored %d, ack %+v", stored, r.Ack)
	}
}

// A newline in a string field (an event's message) must be stored as a
// newline, not as a backslash and an n.
func TestNewlineInStringFieldStored(t *testing.T) {
	in := testserver.Influx(t)
	ing := New(writer(t, in, in.URL), func(string) []Tag { return []Tag{{Key: "region", Value: "Lazio"}} })
	lines := "events,device=cp1,kind=charger_fault message=\"line one\\nline two\\ttab \\\"q\\\" back\\\\slash\",severity=\"warning\" 1780315200000000000\n" +
		"notes,device=x text=\"a\\nb\" 1780315200000000000\n"
	r := handle(t, ing, "47011", lines)
	if r.Ack.Accepted != 2 || r.Err != nil {
		t.Fatalf("ack %+v err %v", r.Ack, r.Err)
	}
	for m, want := range map[string]string{"events": "line one\nline two\ttab \"q\" back\\slash", "notes": "a\nb"} {
		series, err := in.Query(fmt.Sprintf("SELECT * FROM %q", m))
		if err != nil || len(series) != 1 || len(series[0].Values) != 1 {
			t.Fatalf("%s: %v %+v", m, err, series)
		}
		got := ""
		for i, c := range series[0].Columns {
			if c == "message" || c == "text" {
				got, _ = series[0].Values[0][i].(string)
			}
		}
		if got != want {
			t.Errorf("%s stored %q, want %q", m, got, want)
		}
	}
}

// A 413 from a proxy in front of InfluxDB (nginx refuses bodies over 1 MiB
// by default) is about the request, not the data: the fleet splits the batch
// and stores every line, it never acks the lines as rejected.
func TestRequestTooLargeIsSplitNotRejected(t *testing.T) {
	in := testserver.Influx(t)
	target, _ := url.Parse(in.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var refused atomic.Int64
	const limit = 16 << 10
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if len(body) > limit {
			refused.Add(1)
			http.Error(w, "413 Request Entity Too Large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ing := New(writer(t, in, srv.URL), func(string) []Tag { return nil })
	var b strings.Builder
	const n = 2000
	for i := range n {
		fmt.Fprintf(&b, "big,device=d%d w=%d %d\n", i%50, i, 1780315200000000000+i)
	}
	r := handle(t, ing, "47011", b.String())
	if refused.Load() == 0 {
		t.Fatal("the proxy never refused a request: the test does not exercise 413")
	}
	if r.Ack.Status != uplink.AckOK || r.Ack.Rejected != 0 || r.Ack.Accepted != n {
		t.Fatalf("ack %+v after 413s", r.Ack)
	}
	if got := rows(t, in, "big"); got != n {
		t.Fatalf("InfluxDB has %d rows, want %d", got, n)
	}
}
