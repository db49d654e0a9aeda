package fleetsim

import (
	"math/rand/v2"
	"time"
)

// Series is one device of a simulated office: what it measures and how often.
type Series struct {
	Measurement string
	Device      string
	Every       time.Duration
	Fields      func(r *rand.Rand, n int64) map[string]any // n counts this series' samples
	// Window: an aggregated window, sent after the office's share of half a
	// window (uplink.WindowSendDelay) as the edge sends it, not on the
	// wall-clock boundary every office shares.
	Window bool
}

// Mix is what one office measures. Every office of a run has the same mix;
// values vary per office.
type Mix []Series

func (m Mix) isZero() bool { return len(m) == 0 }

// LinesPerSecond is the mix's average rate, for sizing a run.
func (m Mix) LinesPerSecond() float64 {
	var r float64
	for _, s := range m {
		r += float64(time.Second) / float64(s.Every)
	}
	return r
}

// ReferenceMix is an office as the fleet sees it at the edge's raw setting: an
// inverter and a grid meter each second, two chargers every 10 s, a dozen
// environmental sensors every 30 s, a locker bank every minute. About 2.7
// lines/s per office, ~19,000 lines/s for 7,000 offices.
var ReferenceMix = func() Mix {
	m := Mix{
		{Measurement: "inverter", Device: "inv1", Every: time.Second, Fields: inverterFields},
		{Measurement: "meter", Device: "meter1", Every: time.Second, Fields: meterFields},
		{Measurement: "charger", Device: "cp1", Every: 10 * time.Second, Fields: chargerFields},
		{Measurement: "charger", Device: "cp2", Every: 10 * time.Second, Fields: chargerFields},
		{Measurement: "locker", Device: "bank1", Every: time.Minute, Fields: lockerFields},
	}
	for _, dev := range []string{"sala", "hall", "back", "office1", "office2", "atm", "server", "entry", "store", "wc", "cowork1", "cowork2"} {
		m = append(m, Series{Measurement: "env", Device: dev, Every: 30 * time.Second, Fields: envFields})
	}
	return m
}()

// AggregatedMix is the same office configured to send windows (edge config
// `aggregate`): inverter and meter as 10 s windows, the sensors as 1 min
// windows, chargers and lockers raw. Fewer lines, each with three fields per
// gauge (docs/influxdb-schema.md): about 0.5 lines/s per office.
var AggregatedMix = func() Mix {
	var m Mix
	for _, s := range ReferenceMix {
		switch s.Measurement {
		case "inverter", "meter":
			s.Every, s.Fields, s.Window = 10*time.Second, aggregated(s.Fields, 10), true
		case "env":
			s.Every, s.Fields, s.Window = time.Minute, aggregated(s.Fields, 2), true
		}
		m = append(m, s)
	}
	return m
}()

// aggregated turns a series' raw fields into a window's: float gauges as
// _mean/_min/_max, everything else (counters, ints, strings) as is.
func aggregated(raw func(*rand.Rand, int64) map[string]any, perWindow int64) func(*rand.Rand, int64) map[string]any {
	return func(r *rand.Rand, n int64) map[string]any {
		out := map[string]any{"agg_samples": perWindow}
		for k, v := range raw(r, n*perWindow) {
			if f, ok := v.(float64); ok {
				out[k+"_mean"], out[k+"_min"], out[k+"_max"] = f, f*0.97, f*1.03
				continue
			}
			out[k] = v
		}
		return out
	}
}

func inverterFields(r *rand.Rand, n int64) map[string]any {
	w := 2000 + r.Float64()*4000
	return map[string]any{"W": w, "WH": int64(1_000_000 + n*2), "DCW": w * 1.03, "Hz": 50 + r.Float64()*0.04 - 0.02,
		"PhVphA": 230 + r.Float64()*4 - 2, "TmpCab": 35 + r.Float64()*5, "St": int64(4)}
}

func meterFields(r *rand.Rand, n int64) map[string]any {
	w := 3000 + r.Float64()*6000 - 3000
	return map[string]any{"W": w, "WphA": w / 3, "WphB": w / 3, "WphC": w / 3, "PhVphA": 230.1, "PhVphB": 229.8,
		"PhVphC": 231.0, "Hz": 50.01, "TotWhImp": int64(5_000_000 + n), "TotWhExp": int64(800_000 + n/3)}
}

func chargerFields(r *rand.Rand, n int64) map[string]any {
	return map[string]any{"power_w": r.Float64() * 11000, "energy_wh": float64(200_000 + n*30), "current_a": r.Float64() * 16,
		"offered_a": 16.0, "status": "Charging"}
}

func envFields(r *rand.Rand, _ int64) map[string]any {
	return map[string]any{"temperature_c": 19 + r.Float64()*6, "humidity_pct": 35 + r.Float64()*20, "co2_ppm": 450 + r.Float64()*700}
}

func lockerFields(r *rand.Rand, _ int64) map[string]any {
	return map[string]any{"occupied": int64(r.IntN(40)), "compartments": int64(40), "door_open": false, "mains": true}
}

// DirectLines renders what the offices of cfg measure over span from from,
// office by office as their backlogs reach the fleet after an outage: the
// same series, fields and registry tags the fleet stores, under measurement
// names with prefix. Benchmarks write them straight to InfluxDB to compare
// against the fleet on equal work.
func DirectLines(cfg Config, prefix string, from time.Time, span time.Duration) ([]byte, int, error) {
	cfg.defaults()
	mix := make(Mix, len(cfg.Mix))
	for i, s := range cfg.Mix {
		s.Measurement = prefix + s.Measurement
		mix[i] = s
	}
	var out []byte
	n := 0
	r := rand.New(rand.NewPCG(1, 2))
	for i := range cfg.Offices {
		var k int
		var err error
		id := cfg.OfficeID(i)
		if out, k, err = mix.writer(id, registryTags(i, id)).appendDue(out, r, make([]int64, len(mix)), from, from.Add(span)); err != nil {
			return nil, n, err
		}
		n += k
	}
	return out, n, nil
}
