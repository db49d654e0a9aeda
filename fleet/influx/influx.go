// Package influx writes line protocol to InfluxDB through the official v2
// client, so the same code talks to 1.8 (token "user:pass", bucket "db/rp")
// and to 2.x unchanged. It sorts failures into "try again later" and "this
// data will never be accepted", which decides the ack the office gets.
package influx

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/polis-edge/polis/fleet/config"
)

// DataError is InfluxDB refusing (part of) the data itself: a field type
// conflict, a partial write. Resending cannot help.
type DataError struct {
	Status  int
	Dropped int // lines InfluxDB dropped; -1 if it did not say
	Msg     string
}

func (e *DataError) Error() string {
	return fmt.Sprintf("influxdb rejected data (%d, dropped=%d): %s", e.Status, e.Dropped, e.Msg)
}

// Writer is one InfluxDB client shared by all ingest workers; the client's
// HTTP transport is safe for concurrent use and pools connections.
type Writer struct {
	client  influxdb2.Client
	http    ihttp.Service
	url     string // the write endpoint, with org, bucket and precision
	gzip    bool
	timeout time.Duration
	// Requests made and their total time: with the batches processed they
	// tell how many offices one write carries and how long InfluxDB takes.
	requests, nanos atomic.Uint64
}

// Requests returns how many write requests were made and their total time.
func (w *Writer) Requests() (uint64, time.Duration) {
	return w.requests.Load(), time.Duration(w.nanos.Load())
}

// New creates the writer; it does not contact InfluxDB.
func New(cfg config.Influx, workers int) *Writer {
	opts := influxdb2.DefaultOptions().
		SetHTTPRequestTimeout(uint(cfg.Timeout / time.Second))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers + 2
	opts.SetHTTPClient(&http.Client{Transport: tr, Timeout: cfg.Timeout})
	c := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	// The v2 write endpoint (InfluxDB 1.8 serves it too: bucket "db/rp",
	// token "user:pass"), as the client's own write API builds it.
	u, _ := url.Parse(c.HTTPService().ServerAPIURL())
	u, _ = u.Parse("write")
	u.RawQuery = url.Values{"org": {cfg.Org}, "bucket": {cfg.Bucket}, "precision": {"ns"}}.Encode()
	return &Writer{client: c, http: c.HTTPService(), url: u.String(), gzip: cfg.Gzip, timeout: cfg.Timeout}
}

// Write sends lines ('\n' separated) in one request. It returns nil, a
// *DataError, or another error meaning "InfluxDB unavailable, retry later".
// Write does not keep lines: the caller may reuse them once it returns.
//
// The lines are sent from the caller's buffer, not from a copy (copying
// each request body into a string was a tenth of the fleet's CPU while
// draining backlogs). net/http may still read a request body after Do
// returned (a timeout while it was being sent), so the body is read through
// a fence that is closed before Write returns.
func (w *Writer) Write(ctx context.Context, lines []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	began := time.Now()
	err := w.post(ctx, lines)
	w.requests.Add(1)
	w.nanos.Add(uint64(time.Since(began)))
	if err == nil {
		return nil
	}
	var he *ihttp.Error
	if errors.As(err, &he) && isDataStatus(he.StatusCode) {
		return &DataError{Status: he.StatusCode, Dropped: dropped(he.Message), Msg: he.Error()}
	}
	return fmt.Errorf("influxdb write: %w", err)
}

func (w *Writer) post(ctx context.Context, lines []byte) error {
	body, encoding := lines, ""
	if w.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(lines) // a bytes.Buffer does not fail
		zw.Close()
		body, encoding = buf.Bytes(), "gzip"
	}
	f := &fence{b: body}
	defer f.close()
	perr := w.http.DoPostRequest(ctx, w.url, f.reader(), func(req *http.Request) {
		req.ContentLength = int64(len(body))
		// Lets the transport resend on a kept-alive connection the server
		// had closed before anything was written, as it does for a
		// strings.Reader body.
		req.GetBody = func() (io.ReadCloser, error) { return f.reader(), nil }
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
	}, func(r *http.Response) error { return r.Body.Close() })
	if perr != nil {
		return perr
	}
	return nil
}

// isDataStatus: 400 (bad line, type conflict, partial write), 413 and 422 are
// about the payload. 401/403/404 (auth, missing bucket) and 429 are operator
// or load problems that get fixed without the data changing, so they retry.
func isDataStatus(code int) bool {
	return code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge || code == http.StatusUnprocessableEntity
}

var droppedRe = regexp.MustCompile(`dropped=(\d+)`)

func dropped(msg string) int {
	m := droppedRe.FindStringSubmatch(msg)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return n
}

// Ping reports whether InfluxDB answers.
func (w *Writer) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	ok, err := w.client.Ping(ctx)
	if err != nil {
		return fmt.Errorf("influxdb ping: %w", err)
	}
	if !ok {
		return errors.New("influxdb ping: not ready")
	}
	return nil
}

func (w *Writer) Close() { w.client.Close() }
