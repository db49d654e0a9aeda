// Package influx writes line protocol to InfluxDB through the official v2
// client, so the same code talks to 1.8 (token "user:pass", bucket "db/rp")
// and to 2.x unchanged. It sorts failures into "try again later" and "this
// data will never be accepted", which decides the ack the office gets.
package influx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
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
	write   api.WriteAPIBlocking
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
		SetPrecision(time.Nanosecond).
		SetHTTPRequestTimeout(uint(cfg.Timeout / time.Second)).
		SetUseGZip(cfg.Gzip).
		SetMaxRetries(0) // the office holds the batch and resends: one retry loop is enough
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers + 2
	opts.SetHTTPClient(&http.Client{Transport: tr, Timeout: cfg.Timeout})
	c := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	return &Writer{client: c, write: c.WriteAPIBlocking(cfg.Org, cfg.Bucket), timeout: cfg.Timeout}
}

// Write sends lines ('\n' separated) in one request. It returns nil, a
// *DataError, or another error meaning "InfluxDB unavailable, retry later".
func (w *Writer) Write(ctx context.Context, lines string) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	began := time.Now()
	err := w.write.WriteRecord(ctx, lines)
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
