package edge

import (
	"context"
	"errors"
	"time"

	"github.com/polis-edge/polis/protocols/promtext"
	"github.com/polis-edge/polis/protocols/sample"
)

// aggregateGrace is how long after a window's end its point waits for a
// device's late samples before it goes to the buffer.
const aggregateGrace = 2 * time.Second

// flushAggregates writes the aggregated measurements' finished windows to
// the buffer once a second.
func (d *Daemon) flushAggregates(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			d.appendAggregates(d.sink.agg.Due(now, aggregateGrace))
		}
	}
}

// flushOpenWindows writes every open window, complete or not, at a clean
// stop: the drivers have stopped, so nothing more will join them.
func (d *Daemon) flushOpenWindows() { d.appendAggregates(d.sink.agg.Due(time.Time{}, 0)) }

// appendAggregates buffers points taken out of the aggregator. The devices
// were answered long ago, so nobody would resend these: the append gets its
// own deadline rather than the stopping daemon's context, and points it
// cannot store are counted as dropped.
func (d *Daemon) appendAggregates(points []sample.Sample) {
	if len(points) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.buf.Append(ctx, points...); err != nil && !errors.Is(err, sample.ErrInvalid) {
		d.buf.CountDrop(DropAggregateUnbuffered, uint64(len(points)))
		d.log.Error("aggregated points not buffered", "points", len(points), "err", err)
	}
}

// DropAggregateUnbuffered counts aggregated points the buffer refused.
const DropAggregateUnbuffered = "aggregate_unbuffered"

func (d *Daemon) aggregateMetrics(m *promtext.Writer) {
	c := d.sink.agg.Counts()
	m.Counter("polis_edge_aggregated_samples_total", "Raw samples folded into aggregated windows.", float64(c.Folded))
	m.Counter("polis_edge_aggregated_points_total", "Aggregated points buffered.", float64(c.Points))
	m.Counter("polis_edge_aggregate_late_samples_total", "Samples for a window already sent, buffered raw instead.", float64(c.Late))
}
