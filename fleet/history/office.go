package history

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Chart is an office's time series on one time axis (ms), each value the
// mean over the bucket; nil where there was no data.
type Chart struct {
	Span   string                `json:"span"`
	Step   string                `json:"step"`
	Times  []int64               `json:"times"`
	Series map[string][]*float64 `json:"series"` // pv_w, grid_import_w, grid_export_w, ev_w, temperature_c, co2_ppm
}

// Spans the office page offers, with their bucket.
var Spans = map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

func step(span time.Duration) time.Duration {
	if span > 48*time.Hour {
		return time.Hour
	}
	return 10 * time.Minute
}

// OfficeChart returns the office's charts for span ("24h" or "7d").
func (c *Client) OfficeChart(ctx context.Context, office, span string, now time.Time) (Chart, error) {
	d, ok := Spans[span]
	if !ok {
		return Chart{}, fmt.Errorf("span must be 24h or 7d, not %q", span)
	}
	st := step(d)
	from := now.Add(-d).Truncate(st)
	window := fmt.Sprintf(`time >= %dms AND time < %dms`, from.UnixMilli(), now.UnixMilli())
	where := fmt.Sprintf(`"office" = %s AND %s`, quote(office), window)
	g := fmt.Sprintf("GROUP BY time(%s) fill(none)", st)
	// PV and EV: sum of the devices' means (one inverter/charger each a
	// series). The outer query repeats the window: without a time condition
	// InfluxDB ends a GROUP BY time() at its own now(), which drops the last
	// points when the caller's clock (or an office's, within the fleet's
	// clock tolerance) is ahead of InfluxDB's.
	q := strings.Join([]string{
		`SELECT sum("w") FROM (SELECT mean("ac_power_w") AS "w" FROM "pv" WHERE ` + where + ` AND "string" = '' GROUP BY time(` + st.String() + `), "device") WHERE ` + window + ` ` + g,
		`SELECT mean("import_power_w") AS "grid_import_w", mean("export_power_w") AS "grid_export_w" FROM "grid" WHERE ` + where + ` ` + g,
		`SELECT sum("w") FROM (SELECT mean("power_w") AS "w" FROM "evse" WHERE ` + where + ` GROUP BY time(` + st.String() + `), "device", "connector") WHERE ` + window + ` ` + g,
		`SELECT mean("temperature_c") AS "temperature_c", mean("co2_ppm") AS "co2_ppm" FROM "env" WHERE ` + where + ` ` + g,
	}, "; ")
	series, err := c.query(ctx, q)
	if err != nil {
		return Chart{}, err
	}
	n := int(d/st) + 1
	ch := Chart{Span: span, Step: st.String(), Times: make([]int64, n), Series: map[string][]*float64{}}
	for i := range n {
		ch.Times[i] = from.Add(time.Duration(i) * st).UnixMilli()
	}
	for _, name := range []string{"pv_w", "grid_import_w", "grid_export_w", "ev_w", "temperature_c", "co2_ppm"} {
		ch.Series[name] = make([]*float64, n)
	}
	names := map[string][]string{"pv": {"pv_w"}, "grid": {"grid_import_w", "grid_export_w"}, "evse": {"ev_w"}, "env": {"temperature_c", "co2_ppm"}}
	for _, s := range series {
		cols := names[s.Name]
		for _, row := range s.Values {
			ms, ok := num(row[0])
			if !ok {
				continue
			}
			i := int((int64(ms) - from.UnixMilli()) / st.Milliseconds())
			if i < 0 || i >= n {
				continue
			}
			for j, col := range cols {
				if j+1 < len(row) {
					if f, ok := num(row[j+1]); ok {
						ch.Series[col][i] = &f
					}
				}
			}
		}
	}
	return ch, nil
}

// Session is one charging session (from its stop point).
type Session struct {
	Time          time.Time `json:"time"`
	Office        string    `json:"office"`
	Region        string    `json:"region"`
	Province      string    `json:"province"`
	Device        string    `json:"device"`
	Connector     string    `json:"connector"`
	Group         string    `json:"group"`
	TransactionID string    `json:"transaction_id"`
	EnergyWh      float64   `json:"energy_wh"`
	DurationS     float64   `json:"duration_s"`
	StopReason    string    `json:"stop_reason"`
}

// SessionQuery selects finished sessions; Region/Office "" match all.
type SessionQuery struct {
	Office, Region, Province string
	From, To                 time.Time
	Limit                    int
}

// Sessions returns finished sessions, newest first.
func (c *Client) Sessions(ctx context.Context, q SessionQuery) ([]Session, error) {
	if q.Limit <= 0 || q.Limit > 100000 {
		q.Limit = 10000
	}
	where := fmt.Sprintf(`"state" = 'stopped' AND time >= %dms AND time <= %dms`, q.From.UnixMilli(), q.To.UnixMilli())
	for tag, v := range map[string]string{"office": q.Office, "region": q.Region, "province": q.Province} {
		if v != "" {
			where += fmt.Sprintf(` AND %q = %s`, tag, quote(v))
		}
	}
	series, err := c.query(ctx, fmt.Sprintf(`SELECT "transaction_id", "energy_wh", "duration_s", "stop_reason" FROM "session" WHERE %s GROUP BY "office", "region", "province", "device", "connector", "group" ORDER BY time DESC LIMIT %d`, where, q.Limit))
	if err != nil {
		return nil, err
	}
	out := []Session{}
	for _, s := range series {
		for _, row := range s.Values {
			ms, _ := num(row[0])
			se := Session{Time: time.UnixMilli(int64(ms)).UTC(), Office: s.Tags["office"], Region: s.Tags["region"], Province: s.Tags["province"],
				Device: s.Tags["device"], Connector: s.Tags["connector"], Group: s.Tags["group"]}
			se.TransactionID, _ = row[1].(string)
			se.EnergyWh, _ = num(row[2])
			se.DurationS, _ = num(row[3])
			se.StopReason, _ = row[4].(string)
			out = append(out, se)
		}
	}
	sortSessions(out)
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func sortSessions(s []Session) {
	sort.Slice(s, func(i, j int) bool { return s[i].Time.After(s[j].Time) })
}
