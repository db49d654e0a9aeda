package ocppsim

import (
	"context"
	"time"
)

// enqueue adds a message to the offline queue. The sender drains it in
// order whenever the socket is up; a message that fails stays at the head.
func (c *ChargePoint) enqueue(send func() error) {
	c.mu.Lock()
	c.queue = append(c.queue, send)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Queued is how many messages wait in the offline queue.
func (c *ChargePoint) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

func (c *ChargePoint) sender(ctx context.Context) {
	for {
		c.mu.Lock()
		var next func() error
		if len(c.queue) > 0 {
			next = c.queue[0]
		}
		c.mu.Unlock()
		if next == nil || !c.w.connected() {
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if err := next(); err != nil {
			c.log.Debug("ocppsim: send failed, keeping in queue", "id", c.cfg.ID, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		c.mu.Lock()
		c.queue = c.queue[1:]
		c.mu.Unlock()
	}
}

func (c *ChargePoint) enqueueStatus(n int) {
	c.mu.Lock()
	st, ss := c.conns[n].status, c.conns[n].session
	c.mu.Unlock()
	at := time.Now()
	c.enqueue(func() error { return c.w.status(n, st, ss, at) })
}
