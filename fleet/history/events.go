package history

import (
	"context"
	"fmt"
	"time"
)

// Event is one point of the events measurement: the fixed columns, and the
// kind's extra fields (compartment, parcel, event_id, result, ...).
type Event struct {
	Time     time.Time      `json:"time"`
	Device   string         `json:"device"`
	Kind     string         `json:"kind"`
	Severity string         `json:"severity"`
	Message  string         `json:"message"`
	Fields   map[string]any `json:"fields,omitempty"`
}

// EventQuery selects one office's events in a time range whose kind starts
// with KindPrefix ("locker_" for the locker events).
type EventQuery struct {
	Office, KindPrefix string
	From, To           time.Time
	Limit              int
}

// registry and routing tags: on every point, not part of an event.
var placeTags = map[string]bool{"office": true, "region": true, "province": true, "comune": true, "istat": true}

// Events returns the office's matching events, newest first.
func (c *Client) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	if q.Limit <= 0 || q.Limit > 10000 {
		q.Limit = 1000
	}
	kind := ""
	if q.KindPrefix != "" {
		kind = ` AND "kind" =~ /^` + regexQuote(q.KindPrefix) + `/`
	}
	// No GROUP BY: one result ordered by time over every device and kind,
	// with the tags as columns.
	series, err := c.query(ctx, fmt.Sprintf(`SELECT * FROM "events" WHERE "office" = %s%s AND time >= %dms AND time <= %dms ORDER BY time DESC LIMIT %d`,
		quote(q.Office), kind, q.From.UnixMilli(), q.To.UnixMilli(), q.Limit))
	if err != nil {
		return nil, err
	}
	out := []Event{}
	for _, s := range series {
		for _, row := range s.Values {
			var e Event
			for i, col := range s.Columns {
				if i >= len(row) || row[i] == nil {
					continue
				}
				v := row[i]
				switch col {
				case "time":
					ms, _ := num(v)
					e.Time = time.UnixMilli(int64(ms)).UTC()
				case "device":
					e.Device, _ = v.(string)
				case "kind":
					e.Kind, _ = v.(string)
				case "severity":
					e.Severity, _ = v.(string)
				case "message":
					e.Message, _ = v.(string)
				default:
					if placeTags[col] {
						continue
					}
					if e.Fields == nil {
						e.Fields = map[string]any{}
					}
					e.Fields[col] = v
				}
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// regexQuote escapes s for an InfluxQL /regex/ literal.
func regexQuote(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			out = append(out, '\\')
		}
		out = append(out, c)
	}
	return string(out)
}
