package tariff

import (
	"testing"
	"time"
)

func TestBands(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, Rome)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		when string
		want Band
	}{
		{"2026-11-24 10:00", F1}, // Tuesday
		{"2026-11-24 07:30", F2},
		{"2026-11-24 19:00", F2},
		{"2026-11-24 23:00", F3},
		{"2026-11-24 06:59", F3},
		{"2026-11-28 10:00", F2}, // Saturday
		{"2026-11-28 23:30", F3},
		{"2026-11-29 12:00", F3}, // Sunday
		{"2026-04-06 10:00", F3}, // Easter Monday 2026
		{"2025-04-21 10:00", F3}, // Easter Monday 2025
		{"2026-04-07 10:00", F1}, // the Tuesday after
		{"2026-12-08 10:00", F3}, // Immacolata, a Tuesday
		{"2026-06-02 10:00", F3}, // Festa della Repubblica
		{"2026-08-14 10:00", F1},
		{"2026-08-15 10:00", F3},
	} {
		if got := At(at(c.when)); got != c.want {
			t.Errorf("%s: got %s, want %s", c.when, got, c.want)
		}
	}
}

func TestEaster(t *testing.T) {
	for year, want := range map[int]string{2024: "2024-03-31", 2025: "2025-04-20", 2026: "2026-04-05", 2027: "2027-03-28", 2038: "2038-04-25"} {
		if got := Easter(year).Format("2006-01-02"); got != want {
			t.Errorf("Easter %d: got %s, want %s", year, got, want)
		}
	}
}

func TestBandUsesItalianTime(t *testing.T) {
	// 06:30 UTC on a winter Tuesday is 07:30 in Rome: F2, not F3.
	if got := At(time.Date(2026, 11, 24, 6, 30, 0, 0, time.UTC)); got != F2 {
		t.Fatalf("got %s, want F2", got)
	}
}
