package modbussim

import (
	"math"
	"math/rand/v2"
	"time"
)

// clearSkyGHI is global horizontal irradiance (W/m²) under a clear sky, from
// the sun's elevation (Haurwitz model) at lat/lon and time t.
func clearSkyGHI(lat, lon float64, t time.Time) float64 {
	cosZ := cosZenith(lat, lon, t)
	if cosZ <= 0.01 {
		return 0
	}
	return 1098 * cosZ * math.Exp(-0.059/cosZ)
}

func cosZenith(lat, lon float64, t time.Time) float64 {
	u := t.UTC()
	doy := float64(u.YearDay())
	g := 2 * math.Pi / 365 * (doy - 1 + (float64(u.Hour())-12)/24)
	decl := 0.006918 - 0.399912*math.Cos(g) + 0.070257*math.Sin(g) - 0.006758*math.Cos(2*g) +
		0.000907*math.Sin(2*g) - 0.002697*math.Cos(3*g) + 0.00148*math.Sin(3*g)
	eot := 229.18 * (0.000075 + 0.001868*math.Cos(g) - 0.032077*math.Sin(g) - 0.014615*math.Cos(2*g) - 0.040849*math.Sin(2*g))
	minutes := float64(u.Hour()*60+u.Minute()) + float64(u.Second())/60
	solarMin := minutes + eot + 4*lon
	ha := (solarMin/4 - 180) * math.Pi / 180
	phi := lat * math.Pi / 180
	return math.Sin(phi)*math.Sin(decl) + math.Cos(phi)*math.Cos(decl)*math.Cos(ha)
}

// clouds is a seeded random walk of the fraction of clear-sky light that
// gets through: mostly smooth, with passing clouds when cloudiness > 0.
type clouds struct {
	rng        *rand.Rand
	cloudiness float64
	factor     float64
	shade      float64 // current passing-cloud depth
}

func newClouds(seed int64, cloudiness float64) *clouds {
	return &clouds{rng: rand.New(rand.NewPCG(uint64(seed), 0x5eed)), cloudiness: cloudiness, factor: 1}
}

// step advances dt of simulated time and returns the transmission factor.
func (c *clouds) step(dt time.Duration) float64 {
	s := dt.Seconds()
	if c.rng.Float64() < c.cloudiness*s/120 { // a cloud every ~2 min at cloudiness 1
		c.shade = 0.3 + 0.6*c.rng.Float64()*c.cloudiness
	}
	c.shade = math.Max(0, c.shade-s/60) // clouds pass in about a minute
	c.factor = 1 - c.shade
	return c.factor * (1 - 0.02*c.rng.Float64())
}

// officeLoad is the building's consumption: Polis opening hours
// Mon–Fri 08:20–13:45 and Sat 08:20–12:45 (Italian local time).
func officeLoad(base, peak float64, t time.Time, rng *rand.Rand) float64 {
	lt := t.In(romeLoc)
	m := lt.Hour()*60 + lt.Minute()
	open := false
	switch lt.Weekday() {
	case time.Saturday:
		open = m >= 8*60+20 && m < 12*60+45
	case time.Sunday:
	default:
		open = m >= 8*60+20 && m < 13*60+45
	}
	load := base
	if open {
		load = peak
	} else if m >= 7*60+30 && m < 8*60+20 && lt.Weekday() != time.Sunday {
		load = (base + peak) / 2 // heating/cooling before opening
	}
	return load * (0.95 + 0.1*rng.Float64())
}

var romeLoc = rome()

func rome() *time.Location {
	if loc, err := time.LoadLocation("Europe/Rome"); err == nil {
		return loc
	}
	return time.FixedZone("CET", 3600)
}
