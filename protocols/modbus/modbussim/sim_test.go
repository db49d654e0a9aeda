package modbussim

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestClearSkyCurve(t *testing.T) {
	day := func(h, m int) time.Time { return time.Date(2025, 6, 21, h, m, 0, 0, romeLoc) }
	noon := clearSkyGHI(41.9, 12.5, day(13, 15))
	morning := clearSkyGHI(41.9, 12.5, day(8, 0))
	night := clearSkyGHI(41.9, 12.5, day(23, 0))
	winter := clearSkyGHI(41.9, 12.5, time.Date(2025, 12, 21, 12, 15, 0, 0, romeLoc))
	if noon < 850 || noon > 1050 {
		t.Errorf("June solar noon in Rome: %v W/m², want ~900-1000", noon)
	}
	if !(morning > 100 && morning < noon) || night != 0 || !(winter > 250 && winter < 0.6*noon) {
		t.Errorf("morning %v night %v winter %v noon %v", morning, night, winter, noon)
	}
	if clearSkyGHI(46.5, 11.3, day(13, 15)) >= clearSkyGHI(37.5, 15.1, day(13, 15)) {
		t.Error("Bolzano should get less than Catania at the same hour")
	}
}

func TestOfficeHoursLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	at := func(d, h, m int) float64 {
		return officeLoad(1000, 6000, time.Date(2025, 6, d, h, m, 0, 0, romeLoc), rng)
	}
	// 2025-06-16 is a Monday, 21 a Saturday, 22 a Sunday.
	if at(16, 10, 0) < 5000 || at(16, 14, 0) > 1500 || at(21, 12, 0) < 5000 || at(21, 13, 0) > 1500 || at(22, 10, 0) > 1500 {
		t.Error("load does not follow Polis opening hours")
	}
}

func TestCloudsAreSeeded(t *testing.T) {
	a, b := newClouds(5, 0.8), newClouds(5, 0.8)
	for i := 0; i < 1000; i++ {
		if a.step(time.Second) != b.step(time.Second) {
			t.Fatal("same seed, different clouds")
		}
	}
	c := newClouds(5, 0)
	for i := 0; i < 1000; i++ {
		if f := c.step(time.Second); f < 0.97 {
			t.Fatalf("clear sky dimmed to %v", f)
		}
	}
}

func TestGridBalanceUsesChargerHook(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Clock = "2025-06-16T10:00:00+02:00"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetChargerPower(func() float64 { return 11000 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.State()
	if st.ChargersW != 11000 || st.GridW != st.LoadW+st.ChargersW-st.PVW {
		t.Errorf("grid balance: %+v", st)
	}
	for name, addr := range s.Addrs() {
		if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
			t.Errorf("%s bound to %q", name, addr)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for key, mod := range map[string]func(*Config){
		"lat/lon":         func(c *Config) { c.Lat, c.Lon = 51.5, -0.1 },
		"devices[0].type": func(c *Config) { c.Devices[0].Type = "fridge" },
		"devices[1].name": func(c *Config) { c.Devices[1].Name = c.Devices[0].Name },
		"faults":          func(c *Config) { c.Devices[0].Faults.Drop = 2 },
		"modbussim.clock": func(c *Config) { c.Clock = "noon" },
	} {
		c := DefaultConfig()
		mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v", key, err)
		}
	}
}
