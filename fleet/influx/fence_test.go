package influx_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/influx"
)

// The fleet reuses a write's body buffer as soon as Write returns, and Write
// sends from that buffer without copying it. A write that times out while
// net/http is still sending its body must not leak the reused buffer's new
// contents into the request (under -race it must not even read it). Go's
// transport happens to stop reading a timed-out body in time today, so this
// passes without the fence too; TestFenceStopsEveryReaderWhenClosed checks
// the fence itself, which is what net/http's documentation asks for.
func TestWriteNeverSendsABufferReusedAfterItReturned(t *testing.T) {
	got := make(chan []byte, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b []byte
		buf := make([]byte, 64<<10)
		for {
			time.Sleep(20 * time.Millisecond) // an InfluxDB far behind
			n, err := r.Body.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- b
		w.WriteHeader(http.StatusNoContent)
	}))
	defer slow.Close()
	w := influx.New(config.Influx{URL: slow.URL, Bucket: "polis/autogen", Timeout: 300 * time.Millisecond}, 1)
	body := bytes.Repeat([]byte("m v=1 1\n"), 1<<20) // 8 MiB: more than the socket buffers hold
	err := w.Write(context.Background(), body)
	var de *influx.DataError
	if err == nil || errors.As(err, &de) {
		t.Fatalf("a timed-out write must ask for a retry, got %v", err)
	}
	for i := range body {
		body[i] = 'X' // the caller reuses its buffer
	}
	select {
	case b := <-got:
		if bytes.IndexByte(b, 'X') >= 0 {
			t.Fatalf("the reused buffer reached InfluxDB (%d of %d bytes received)", len(b), len(body))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server never finished reading")
	}
}
