package history

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Live values come from InfluxDB, one last() per field, for one office at a
// time, rather than from a table the ingest keeps in memory: the query only
// touches that office's series (tag index on "office"), so its cost does not
// grow with the fleet (BenchmarkOfficeLive); the ingest path stays as it is;
// and with several fleet instances splitting the telemetry (share group,
// JetStream) every instance answers with all of the office's data, where an
// in-memory table would hold only the share its instance ingested.

// LiveWindow is how far back the office page looks for a device's latest
// value; older values are not shown.
const LiveWindow = 7 * 24 * time.Hour

// StaleAfter: a periodic reading (power, temperature, a locker bank's
// state) older than this is marked stale. A value reported only on change
// (a charger's status, a door contact) holds until the next change, so it
// is stale only when the office itself has been silent this long.
const StaleAfter = 15 * time.Minute

// liveFields are the fields the office page shows, per measurement; nil =
// every field the measurement has (sensors: whatever the mapping produces).
var liveFields = []struct {
	m, groupBy, where string
	fields            []string
}{
	{"pv", `"device"`, ` AND "string" = ''`, []string{"ac_power_w", "state", "limit_pct", "limit_active", "rated_power_w", "energy_wh"}},
	{"grid", `"device"`, "", []string{"power_w", "import_power_w", "export_power_w", "import_energy_wh", "export_energy_wh"}},
	{"evse", `"device", "connector"`, "", []string{"status", "error_code", "power_w", "offered_a", "offered_w", "session_energy_wh", "transaction_id", "soc_pct", "energy_wh"}},
	{"rules", `"device", "connector"`, "", []string{"limit_a", "phases", "reason", "mode", "group", "draw_w", "actuation",
		"available_w", "import_w", "budget_w", "pv_w", "failsafe", "meter_ok", "band", "sessions", "paused"}},
	{"locker", `"device"`, "", []string{"online", "power", "temperature_c", "compartments", "empty", "occupied", "open", "reserved", "out_of_service", "fault"}},
	{"locker_compartment", `"device", "compartment"`, "", []string{"state", "door_open"}},
	{"env", `"device"`, "", nil},
	{"contact", `"device"`, "", nil},
	{"leak", `"device"`, "", nil},
	{"smoke", `"device"`, "", nil},
	{"submeter", `"device"`, "", nil},
	{"sensor_diag", `"device"`, "", nil},
}

// onChange are the fields reported only when they change, not periodically
// (inverters are polled, rules rows rewritten every 10 s, locker banks send
// their status at least every 5 min: all periodic).
var onChange = map[string]bool{
	"evse.status": true, "evse.error_code": true, "evse.transaction_id": true,
	"contact.open": true, "leak.leak": true, "smoke.smoke": true,
}

// Value is one field's latest value and when it was measured.
type Value struct {
	V     any       `json:"v"`
	Time  time.Time `json:"time"`
	Stale bool      `json:"stale,omitempty"`
}

// LiveRow is one device's (or connector's, or compartment's) latest values
// in one measurement.
type LiveRow struct {
	Measurement string `json:"measurement"`
	Device      string `json:"device"`
	// Connector (evse, rules) or compartment (locker_compartment).
	Connector   string           `json:"connector,omitempty"`
	Compartment string           `json:"compartment,omitempty"`
	Values      map[string]Value `json:"values"`
	// Session: the connector's session in progress (evse rows).
	Session *LiveSession `json:"session,omitempty"`
	// Allocation: the energy rules' decision for the connector (evse rows).
	Allocation map[string]Value `json:"allocation,omitempty"`
}

// LiveSession is a charging session started and not yet stopped.
type LiveSession struct {
	TransactionID string    `json:"transaction_id"`
	Group         string    `json:"group"`
	IDTag         string    `json:"id_tag,omitempty"`
	State         string    `json:"state"`
	Started       time.Time `json:"started"`
	EnergyWh      *float64  `json:"energy_wh,omitempty"`
}

// Live is an office's latest values.
type Live struct {
	Time        time.Time `json:"time"`
	StaleAfterS float64   `json:"stale_after_s"`
	Rows        []LiveRow `json:"rows"`
	// Rules is the office-level decision of the energy rules (device "rules").
	Rules *LiveRow `json:"rules,omitempty"`
}

type fieldKeys struct {
	mu  sync.Mutex
	at  time.Time
	val map[string][]string
}

// sensorFields lists the fields of the sensor measurements (SHOW FIELD
// KEYS, cached ten minutes: they change only with the schema or mappings).
func (c *Client) sensorFields(ctx context.Context, now time.Time) (map[string][]string, error) {
	c.keys.mu.Lock()
	defer c.keys.mu.Unlock()
	if c.keys.val != nil && now.Sub(c.keys.at) < 10*time.Minute {
		return c.keys.val, nil
	}
	series, err := c.query(ctx, `SHOW FIELD KEYS FROM /^(env|contact|leak|smoke|submeter|sensor_diag)$/`)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, s := range series {
		for _, row := range s.Values {
			if k, ok := row[0].(string); ok {
				out[s.Name] = append(out[s.Name], k)
			}
		}
	}
	c.keys.at, c.keys.val = now, out
	return out, nil
}

// OfficeLive returns the office's latest value of every shown field, each
// with its time; lastSeen is when the office was last heard from.
func (c *Client) OfficeLive(ctx context.Context, office string, now, lastSeen time.Time) (Live, error) {
	sensors, err := c.sensorFields(ctx, now)
	if err != nil {
		return Live{}, err
	}
	// An explicit upper bound: InfluxQL's default is now(), which would hide
	// the latest values of an office whose clock runs a little ahead (the
	// ingest accepts up to ingest.clock_tolerance ahead of the fleet).
	where := fmt.Sprintf(`"office" = %s AND time >= %dms AND time <= %dms`, quote(office), now.Add(-LiveWindow).UnixMilli(), now.Add(24*time.Hour).UnixMilli())
	var stmts []string
	for _, m := range liveFields {
		fields := m.fields
		if fields == nil {
			fields = sensors[m.m]
		}
		for _, f := range fields {
			stmts = append(stmts, fmt.Sprintf(`SELECT last(%q) AS %q FROM %q WHERE %s%s GROUP BY %s`, f, f, m.m, where, m.where, m.groupBy))
		}
	}
	// The last session point per connector, with the columns of that point.
	stmts = append(stmts, `SELECT last("state") AS "state", "transaction_id", "id_tag", "group" FROM "session" WHERE `+where+` GROUP BY "device", "connector"`)
	series, err := c.query(ctx, strings.Join(stmts, "; "))
	if err != nil {
		return Live{}, err
	}
	officeStale := now.Sub(lastSeen) > StaleAfter
	rows := map[string]*LiveRow{}
	sessions := map[string]*LiveSession{}
	for _, s := range series {
		if len(s.Values) == 0 || len(s.Columns) < 2 {
			continue
		}
		row := s.Values[0]
		ms, ok := num(row[0])
		if !ok || row[1] == nil {
			continue
		}
		t := time.UnixMilli(int64(ms)).UTC()
		dev, conn, comp := s.Tags["device"], s.Tags["connector"], s.Tags["compartment"]
		key := s.Name + "\x00" + dev + "\x00" + conn + "\x00" + comp
		if s.Name == "session" {
			ls := &LiveSession{Started: t}
			ls.State, _ = row[1].(string)
			if len(row) >= 5 {
				ls.TransactionID, _ = row[2].(string)
				ls.IDTag, _ = row[3].(string)
				ls.Group, _ = row[4].(string)
			}
			if ls.State != "stopped" {
				sessions[dev+"\x00"+conn] = ls
			}
			continue
		}
		r := rows[key]
		if r == nil {
			r = &LiveRow{Measurement: s.Name, Device: dev, Connector: conn, Compartment: comp, Values: map[string]Value{}}
			rows[key] = r
		}
		field := s.Columns[1]
		stale := now.Sub(t) > StaleAfter
		if onChange[s.Name+"."+field] {
			stale = officeStale
		}
		r.Values[field] = Value{V: row[1], Time: t, Stale: stale}
	}
	live := Live{Time: now.UTC(), StaleAfterS: StaleAfter.Seconds(), Rows: []LiveRow{}}
	alloc := map[string]map[string]Value{}
	for _, r := range rows {
		if r.Measurement == "rules" {
			if r.Connector == "" {
				live.Rules = r
			} else {
				alloc[r.Device+"\x00"+r.Connector] = r.Values
			}
		}
	}
	for _, r := range rows {
		if r.Measurement == "rules" {
			continue
		}
		if r.Measurement == "evse" {
			k := r.Device + "\x00" + r.Connector
			r.Allocation = alloc[k]
			delete(alloc, k)
			if ls := sessions[k]; ls != nil {
				// Energy of this session: the meter's session energy once it
				// belongs to this transaction.
				if v, ok := r.Values["session_energy_wh"]; ok && !v.Time.Before(ls.Started) {
					if tx, _ := r.Values["transaction_id"].V.(string); tx == "" || tx == ls.TransactionID {
						e, _ := num(v.V)
						ls.EnergyWh = &e
					}
				}
				r.Session = ls
			}
		}
		live.Rows = append(live.Rows, *r)
	}
	// A connector the rules control but that has no evse data yet.
	for k, a := range alloc {
		dev, conn, _ := strings.Cut(k, "\x00")
		live.Rows = append(live.Rows, LiveRow{Measurement: "evse", Device: dev, Connector: conn, Values: map[string]Value{}, Allocation: a})
	}
	sort.Slice(live.Rows, func(i, j int) bool {
		a, b := live.Rows[i], live.Rows[j]
		if a.Measurement != b.Measurement {
			return a.Measurement < b.Measurement
		}
		if a.Device != b.Device {
			return a.Device < b.Device
		}
		if a.Connector != b.Connector {
			return lessNum(a.Connector, b.Connector)
		}
		return lessNum(a.Compartment, b.Compartment)
	})
	return live, nil
}

// lessNum orders "2" before "10".
func lessNum(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
