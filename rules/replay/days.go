package replay

import (
	"time"

	"github.com/polis-edge/polis/rules"
	"github.com/polis-edge/polis/rules/tariff"
)

// RefOffice is the reference office: a 10 kW supply, 10 kWp of PV, a
// public 22 kW charger and two 11 kW chargers for the delivery vans.
var RefOffice = Office{
	ContractedKW: 10, PVPeakW: 10000, ClosedLoadW: 500, OpenLoadW: 3000,
	Chargers:    []Charger{{ID: "CP-PUB", MaxA: 32}, {ID: "CP-VAN1", MaxA: 16, Fleet: true}, {ID: "CP-VAN2", MaxA: 16, Fleet: true}},
	ReportEvery: 10 * time.Second, // the OCPP driver's default meter_sample_interval
}

// RefConfig is the rules config an installer would write for RefOffice.
func RefConfig() rules.Config {
	return rules.Config{
		ContractedKW: 10, PVPeakW: 10000, GridMeter: "meter",
		Prices:   rules.Prices{F1: 0.32, F2: 0.27, F3: 0.21},
		Chargers: []rules.ChargerConfig{{ID: "CP-PUB", MaxA: 32}, {ID: "CP-VAN1", MaxA: 16}, {ID: "CP-VAN2", MaxA: 16}},
		Groups:   map[string]rules.GroupConfig{rules.FleetGroup: {Departure: "07:30"}},
		Vans:     map[string]rules.VanConfig{"van1": {CapacityKWh: 50}, "van2": {CapacityKWh: 50}},
	}
}

func at(day time.Time, hhmm string) time.Time {
	t, _ := time.Parse("15:04", hhmm)
	return time.Date(day.Year(), day.Month(), day.Day(), t.Hour(), t.Minute(), 0, 0, tariff.Rome)
}

func van(tag, charger string, arrive, leave time.Time, need float64) Car {
	return Car{Charger: charger, Tag: tag, Van: true, Arrive: arrive, Leave: leave, NeedKWh: need, CapKWh: 50, MaxA: 16, Phases: 3}
}

func public(arrive, leave time.Time, need, maxA float64, phases int) Car {
	return Car{Charger: "CP-PUB", Tag: "public", Arrive: arrive, Leave: leave, NeedKWh: need, MaxA: maxA, Phases: phases}
}

// workday: the vans charged overnight leave at 07:30, public cars come and
// go, the vans return in the afternoon for tomorrow's 07:30.
func workday(name string, day time.Time, sun, rise, set, clouds float64, seed uint64) Day {
	next := day.AddDate(0, 0, 1)
	return Day{
		Name: name, Start: at(day, "00:00"), End: at(next, "08:00"),
		Sun: sun, Sunrise: rise, Sunset: set, Clouds: clouds, Seed: seed,
		Cars: []Car{
			van("van1", "CP-VAN1", at(day, "00:00"), at(day, "07:30"), 18),
			van("van2", "CP-VAN2", at(day, "00:00"), at(day, "07:30"), 25),
			public(at(day, "09:10"), at(day, "11:40"), 20, 32, 3),
			public(at(day, "14:00"), at(day, "15:30"), 8, 16, 1),
			van("van1", "CP-VAN1", at(day, "15:00"), at(next, "07:30"), 30),
			van("van2", "CP-VAN2", at(day, "16:30"), at(next, "07:30"), 32),
			public(at(day, "18:00"), at(day, "19:30"), 10, 32, 3),
		},
	}
}

// RefDays are the reference days of docs/energy-rules.md.
func RefDays() []Day {
	summer := time.Date(2026, 6, 16, 0, 0, 0, 0, tariff.Rome) // a Tuesday
	winter := time.Date(2026, 1, 20, 0, 0, 0, 0, tariff.Rome) // a Tuesday
	sunday := time.Date(2026, 6, 14, 0, 0, 0, 0, tariff.Rome)
	outage := workday("meter outage (summer Wed)", time.Date(2026, 6, 17, 0, 0, 0, 0, tariff.Rome), 0.85, 5.6, 20.8, 0.15, 4)
	outage.MeterOutage = [2]time.Time{at(outage.Start, "10:00"), at(outage.Start, "10:45")}
	return []Day{
		workday("sunny summer workday", summer, 0.85, 5.6, 20.8, 0.1, 1),
		workday("cloudy winter workday", winter, 0.45, 7.7, 17.1, 0.8, 2),
		{
			Name: "Sunday (summer)", Start: at(sunday, "00:00"), End: at(sunday.AddDate(0, 0, 1), "08:00"),
			Sun: 0.85, Sunrise: 5.6, Sunset: 20.8, Clouds: 0.2, Seed: 3,
			Cars: []Car{
				van("van1", "CP-VAN1", at(sunday, "00:00"), at(sunday.AddDate(0, 0, 1), "07:30"), 30),
				van("van2", "CP-VAN2", at(sunday, "00:00"), at(sunday.AddDate(0, 0, 1), "07:30"), 32),
				public(at(sunday, "11:00"), at(sunday, "13:00"), 15, 32, 3),
			},
		},
		outage,
	}
}

// Compare runs the three strategies on day.
func Compare(o Office, d Day) ([]KPI, error) {
	ours, err := NewOurs(RefConfig())
	if err != nil {
		return nil, err
	}
	avail := RefConfig()
	avail.ApplyDefaults()
	return []KPI{
		Run(o, d, Uncontrolled{}),
		Run(o, d, &EvccLike{AvailableW: avail.AvailableW(), Interval: 30 * time.Second}),
		Run(o, d, ours),
	}, nil
}

// Window cuts a day to [from, to): cars plugged before from are plugged at
// from with their whole need, for short replays in tests.
func (d Day) Window(from, to time.Time) Day {
	out := d
	out.Start, out.End, out.Cars = from, to, nil
	for _, c := range d.Cars {
		if !c.Leave.After(from) || !c.Arrive.Before(to) {
			continue
		}
		if c.Arrive.Before(from) {
			c.Arrive = from
		}
		out.Cars = append(out.Cars, c)
	}
	return out
}
