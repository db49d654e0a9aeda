package influx

import (
	"errors"
	"io"
	"sync"
)

// errFenced is what a request body read after its Write returned gets:
// net/http may still be sending a body when Do gives up on the request (a
// timeout), and the caller is about to reuse the buffer.
var errFenced = errors.New("influx: request body read after its write returned")

// fence hands out readers over b until it is closed; a read in progress
// finishes its copy before close returns, and no read touches b after.
type fence struct {
	mu     sync.Mutex
	b      []byte
	closed bool
}

func (f *fence) close() {
	f.mu.Lock()
	f.closed, f.b = true, nil
	f.mu.Unlock()
}

// reader starts at the beginning of b (GetBody asks for a fresh one to
// resend a request).
func (f *fence) reader() io.ReadCloser { return &fenceReader{f: f} }

type fenceReader struct {
	f   *fence
	off int
}

func (r *fenceReader) Read(p []byte) (int, error) {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	if r.f.closed {
		return 0, errFenced
	}
	if r.off >= len(r.f.b) {
		return 0, io.EOF
	}
	n := copy(p, r.f.b[r.off:])
	r.off += n
	return n, nil
}

func (r *fenceReader) Close() error { return nil }
