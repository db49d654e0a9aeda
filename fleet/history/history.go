// Package history reads what the dashboard shows from InfluxDB 1.8
// (InfluxQL over /query): today's energy and sessions per region, an
// office's charts for 24 h / 7 d, and charging sessions for the office page
// and CSV exports. Every query is bounded in time and grouped on the server,
// and the fleet-wide ones are cached briefly, so 7,000 offices cost a few
// queries per minute, not one per office per page view.
package history

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/polis-edge/polis/fleet/config"
)

// Client queries InfluxDB 1.8. Safe for concurrent use.
type Client struct {
	base       string
	db, rp     string
	user, pass string
	http       *http.Client
	cacheFor   time.Duration

	mu    sync.Mutex
	today cached
	keys  fieldKeys
}

type cached struct {
	at  time.Time
	day time.Time
	val map[string]Energy
}

// Rome is where "today" starts.
var Rome = func() *time.Location {
	l, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// New returns a client for the fleet's InfluxDB (bucket "db/rp", token "user:pass").
func New(cfg config.Influx) *Client {
	db, rp, _ := strings.Cut(cfg.Bucket, "/")
	user, pass, _ := strings.Cut(cfg.Token, ":")
	return &Client{base: strings.TrimRight(cfg.URL, "/"), db: db, rp: rp, user: user, pass: pass,
		http: &http.Client{Timeout: cfg.Timeout}, cacheFor: time.Minute}
}

// Series is one InfluxQL result series.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

func (c *Client) query(ctx context.Context, q string) ([]Series, error) {
	form := url.Values{"q": {q}, "db": {c.db}, "epoch": {"ms"}}
	if c.rp != "" {
		form.Set("rp", c.rp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("influx query: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("influx query: %w", err)
	}
	var out struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("influx query: %s: %w", resp.Status, err)
	}
	if out.Error != "" {
		return nil, fmt.Errorf("influx query: %s", out.Error)
	}
	var all []Series
	for _, r := range out.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("influx query: %s", r.Error)
		}
		all = append(all, r.Series...)
	}
	return all, nil
}

// quote makes s a safe InfluxQL string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func num(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}

// Energy is one region's energy today (Wh, from the integral of power) and
// charging sessions started.
type Energy struct {
	PVWh         float64 `json:"pv_wh"`
	GridImportWh float64 `json:"grid_import_wh"`
	GridExportWh float64 `json:"grid_export_wh"`
	EVWh         float64 `json:"ev_wh"`
	Sessions     int     `json:"sessions"`
}

// Today returns today's energy per region (cached for a minute).
func (c *Client) Today(ctx context.Context, now time.Time) (map[string]Energy, error) {
	y, m, d := now.In(Rome).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, Rome)
	c.mu.Lock()
	if c.today.val != nil && c.today.day.Equal(day) && now.Sub(c.today.at) < c.cacheFor {
		v := c.today.val
		c.mu.Unlock()
		return v, nil
	}
	c.mu.Unlock()
	since := fmt.Sprintf("time >= %dms", day.UnixMilli())
	q := strings.Join([]string{
		`SELECT integral("ac_power_w", 1h) FROM "pv" WHERE ` + since + ` AND "string" = '' GROUP BY "region"`,
		`SELECT integral("import_power_w", 1h), integral("export_power_w", 1h) FROM "grid" WHERE ` + since + ` GROUP BY "region"`,
		`SELECT integral("power_w", 1h) FROM "evse" WHERE ` + since + ` GROUP BY "region"`,
		`SELECT count("transaction_id") FROM "session" WHERE ` + since + ` AND "state" = 'started' GROUP BY "region"`,
	}, "; ")
	series, err := c.query(ctx, q)
	if err != nil {
		return nil, err
	}
	out := map[string]Energy{}
	for _, s := range series {
		if len(s.Values) == 0 {
			continue
		}
		row := s.Values[0]
		e := out[s.Tags["region"]]
		val := func(i int) float64 { f, _ := num(row[i]); return f }
		switch s.Name {
		case "pv":
			e.PVWh += val(1)
		case "grid":
			e.GridImportWh += val(1)
			e.GridExportWh += val(2)
		case "evse":
			e.EVWh += val(1)
		case "session":
			e.Sessions += int(val(1))
		}
		out[s.Tags["region"]] = e
	}
	c.mu.Lock()
	c.today = cached{at: now, day: day, val: out}
	c.mu.Unlock()
	return out, nil
}
