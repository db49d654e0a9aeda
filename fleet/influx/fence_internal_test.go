package influx

import (
	"errors"
	"io"
	"testing"
)

// net/http may read a request body after Do returned ("RoundTrip ... may
// close the body in a separate goroutine even after RoundTrip returns"):
// once Write has closed the fence, no reader touches the caller's buffer.
func TestFenceStopsEveryReaderWhenClosed(t *testing.T) {
	buf := []byte("m v=1 1\nm v=2 2\n")
	f := &fence{b: buf}
	r := f.reader()
	p := make([]byte, 4)
	if n, err := r.Read(p); n != 4 || err != nil || string(p) != "m v=" {
		t.Fatalf("first read: %d %v %q", n, err, p[:n])
	}
	if all, err := io.ReadAll(f.reader()); err != nil || string(all) != string(buf) {
		t.Fatalf("a resend (GetBody) reads from the start: %q %v", all, err)
	}
	f.close()
	for _, rd := range []io.Reader{r, f.reader()} {
		if n, err := rd.Read(p); n != 0 || !errors.Is(err, errFenced) {
			t.Fatalf("read after close: %d bytes, %v", n, err)
		}
	}
}
