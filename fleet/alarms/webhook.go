package alarms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// SignatureHeader carries hex HMAC-SHA256 of the body with the hook's secret,
// as "sha256=<hex>", so the receiver knows the POST came from this fleet.
const SignatureHeader = "X-Polis-Signature"

// Hook is one webhook: alarm changes in its scope are POSTed as JSON.
type Hook struct {
	URL    string
	Secret string
	// Allowed says whether an alarm's place is in the hook's scope.
	Allowed func(Place) bool
}

// Message is the webhook body.
type Message struct {
	Event string    `json:"event"` // raised, updated, escalated, cleared, acknowledged
	Time  time.Time `json:"time"`
	Alarm Alarm     `json:"alarm"`
}

// Webhooks delivers alarm changes to hooks, one sender goroutine per hook
// so a slow receiver delays only its own messages. A full queue drops the
// message, counted in Dropped and logged.
type Webhooks struct {
	hooks   []*hookSender
	log     *slog.Logger
	Retries int           // attempts after the first
	Backoff time.Duration // before the first retry, doubling
	Sent    atomic.Uint64
	Failed  atomic.Uint64 // given up after the retries
	Dropped atomic.Uint64 // queue full
}

type hookSender struct {
	Hook
	q chan Message
}

// NewWebhooks starts one sender per hook until ctx is done.
func NewWebhooks(ctx context.Context, hooks []Hook, log *slog.Logger) *Webhooks {
	w := &Webhooks{log: log, Retries: 4, Backoff: time.Second}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, h := range hooks {
		s := &hookSender{Hook: h, q: make(chan Message, 1000)}
		w.hooks = append(w.hooks, s)
		go w.run(ctx, client, s)
	}
	return w
}

// Notify implements Notifier.
func (w *Webhooks) Notify(event string, a Alarm) {
	m := Message{Event: event, Time: time.Now().UTC(), Alarm: a}
	for _, h := range w.hooks {
		if h.Allowed != nil && !h.Allowed(a.Place) {
			continue
		}
		select {
		case h.q <- m:
		default:
			w.Dropped.Add(1)
			w.log.Warn("webhook queue full: alarm change dropped", "url", h.URL, "alarm", a.ID, "event", event)
		}
	}
}

func (w *Webhooks) run(ctx context.Context, c *http.Client, h *hookSender) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-h.q:
			body, _ := json.Marshal(m)
			wait := w.Backoff
			for attempt := 0; ; attempt++ {
				err := post(ctx, c, h.Hook, body)
				if err == nil {
					w.Sent.Add(1)
					break
				}
				if attempt >= w.Retries || ctx.Err() != nil {
					w.Failed.Add(1)
					w.log.Error("webhook delivery failed", "url", h.URL, "alarm", m.Alarm.ID, "event", m.Event, "attempts", attempt+1, "err", err)
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
				wait *= 2
			}
		}
	}
}

// Sign returns the signature header value of body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func post(ctx context.Context, c *http.Client, h Hook, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "polis-fleet")
	if h.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(h.Secret, body))
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
