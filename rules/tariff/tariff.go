// Package tariff knows Italy's ARERA time-of-use bands (F1, F2, F3) and the
// national holidays that make a weekday an F3 day, Easter Monday included.
package tariff

import (
	"time"
	_ "time/tzdata" // the edge box may lack /usr/share/zoneinfo
)

// Band is an ARERA time band.
type Band int

const (
	F1 Band = iota + 1 // Mon–Fri 08–19
	F2                 // Mon–Fri 07–08 and 19–23; Sat 07–23
	F3                 // Mon–Sat 23–07; Sundays and holidays all day
)

func (b Band) String() string {
	switch b {
	case F1:
		return "F1"
	case F2:
		return "F2"
	case F3:
		return "F3"
	}
	return "?"
}

// Rome is the bands' clock: they are defined in Italian local time.
var Rome = mustLoad("Europe/Rome")

func mustLoad(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // time/tzdata is embedded: cannot happen
	}
	return l
}

// At returns the band in force at t.
func At(t time.Time) Band {
	t = t.In(Rome)
	if t.Weekday() == time.Sunday || Holiday(t) {
		return F3
	}
	h := t.Hour()
	if h < 7 || h >= 23 {
		return F3
	}
	if t.Weekday() == time.Saturday {
		return F2
	}
	if h >= 8 && h < 19 {
		return F1
	}
	return F2
}

// Holiday reports whether t's date (in Italy) is a national holiday.
func Holiday(t time.Time) bool {
	t = t.In(Rome)
	m, d := t.Month(), t.Day()
	switch {
	case m == time.January && (d == 1 || d == 6),
		m == time.April && d == 25,
		m == time.May && d == 1,
		m == time.June && d == 2,
		m == time.August && d == 15,
		m == time.November && d == 1,
		m == time.December && (d == 8 || d == 25 || d == 26):
		return true
	}
	em := Easter(t.Year()).AddDate(0, 0, 1)
	return m == em.Month() && d == em.Day()
}

// WorkingDay: not Sunday, not a holiday (Saturday counts: offices open).
func WorkingDay(t time.Time) bool {
	t = t.In(Rome)
	return t.Weekday() != time.Sunday && !Holiday(t)
}

// Easter returns Easter Sunday of year (Gregorian, anonymous algorithm).
func Easter(year int) time.Time {
	a := year % 19
	b, c := year/100, year%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return time.Date(year, time.Month(month), day, 0, 0, 0, 0, Rome)
}

// Price is €/kWh per band.
type Price struct{ F1, F2, F3 float64 }

// Of returns the price of band b.
func (p Price) Of(b Band) float64 {
	switch b {
	case F1:
		return p.F1
	case F2:
		return p.F2
	}
	return p.F3
}
