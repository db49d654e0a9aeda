package modbussim

import (
	"fmt"
	"math"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/polis-edge/polis/protocols/modbus/sunspec"
)

// SunSpecBase is where the simulated SunSpec devices put "SunS".
const SunSpecBase = 40000

// rampPerSecond is how fast the simulated inverter follows a new target, as a
// fraction of its rating per second (real inverters: 5-20 %/s).
const rampPerSecond = 0.10

// sunspecUnit is a register bank made of SunSpec model images.
type sunspecUnit struct {
	bank
	models map[int]*sunspec.Image
	addrs  map[int]int // model id -> address of its ID register
}

func newSunspecUnit(imgs ...*sunspec.Image) *sunspecUnit {
	u := &sunspecUnit{bank: bank{start: SunSpecBase}, models: map[int]*sunspec.Image{}, addrs: map[int]int{}}
	u.regs = append(u.regs, sunspec.Marker[0], sunspec.Marker[1])
	for _, img := range imgs {
		u.addrs[img.Model.ID] = SunSpecBase + len(u.regs)
		u.regs = append(u.regs, img.Regs...)
	}
	u.regs = append(u.regs, sunspec.EndID, 0)
	// Point the images at the bank so setting a point updates what is served.
	for id, img := range imgs {
		_ = id
		off := u.addrs[img.Model.ID] - SunSpecBase
		img.Regs = u.regs[off : off+len(img.Regs)]
		u.models[img.Model.ID] = img
	}
	return u
}

func (u *sunspecUnit) read(fc, addr, n int) ([]uint16, error) {
	if fc != 3 {
		return nil, mb.ErrIllegalFunction
	}
	return u.slice(addr, n)
}

// writableModel returns the control model a write falls into.
func (u *sunspecUnit) writableModel(addr, n int) (int, bool) {
	for _, id := range []int{123, 704} {
		a, ok := u.addrs[id]
		if !ok {
			continue
		}
		img := u.models[id]
		if addr >= a+2 && addr+n <= a+len(img.Regs) {
			return id, true
		}
	}
	return 0, false
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func image(id, repeats int) *sunspec.Image {
	m, ok := sunspec.Lookup(id)
	if !ok {
		panic(fmt.Sprintf("model %d not embedded", id))
	}
	return sunspec.NewImage(m, repeats)
}

// inverter is a SunSpec three-phase PV inverter.
type inverter struct {
	*sunspecUnit
	cfg        DeviceConfig
	outW       float64 // AC output after ramp
	energyWh   float64
	stringWh   []float64
	lastWrite  map[int]time.Time
	faultBits  uint32
	limitedPct float64
	started    bool
}

func newInverter(cfg DeviceConfig) *inverter {
	m1, m103, m120, m123, m160, m704 := image(1, 0), image(103, 0), image(120, 0), image(123, 0), image(160, cfg.Strings), image(704, 0)
	must(m1.SetString("Mn", "Polis Sim"))
	must(m1.SetString("Md", fmt.Sprintf("PV-%.0fK", cfg.RatedW/1000)))
	must(m1.SetString("SN", "SIM-"+cfg.Name))
	must(m1.SetString("Vr", "1.6.3"))
	must(m1.SetRaw("DA", -1, float64(cfg.Unit)))
	for name, sf := range map[string]float64{"A_SF": -2, "V_SF": -1, "W_SF": 0, "Hz_SF": -2, "VA_SF": 0,
		"VAr_SF": 0, "PF_SF": -1, "WH_SF": 0, "DCA_SF": -2, "DCV_SF": -1, "DCW_SF": 0, "Tmp_SF": -1} {
		must(m103.SetRaw(name, -1, sf))
	}
	must(m120.SetRaw("DERTyp", -1, 4)) // PV
	must(m120.SetRaw("WRtg_SF", -1, 0))
	must(m120.Set("WRtg", -1, cfg.RatedW))
	must(m120.SetRaw("VARtg_SF", -1, 0))
	must(m120.Set("VARtg", -1, cfg.RatedW))
	must(m123.SetRaw("WMaxLimPct_SF", -1, -1))
	must(m123.Set("WMaxLimPct", -1, 100))
	for _, p := range []string{"WMaxLimPct_WinTms", "WMaxLimPct_RvrtTms", "WMaxLimPct_RmpTms", "WMaxLim_Ena", "Conn_WinTms", "Conn_RvrtTms"} {
		must(m123.SetRaw(p, -1, 0))
	}
	must(m123.SetRaw("Conn", -1, 1))
	for name, sf := range map[string]float64{"DCA_SF": -2, "DCV_SF": -1, "DCW_SF": 0, "DCWH_SF": 0} {
		must(m160.SetRaw(name, -1, sf))
	}
	must(m160.SetRaw("N", -1, float64(cfg.Strings)))
	must(m160.SetRaw("Evt", -1, 0))
	for i := 0; i < cfg.Strings; i++ {
		must(m160.SetRaw("ID", i, float64(i+1)))
	}
	must(m704.SetRaw("WMaxLimPct_SF", -1, -1))
	must(m704.SetRaw("WMaxLimPctEna", -1, 0))
	must(m704.Set("WMaxLimPct", -1, 100))
	must(m704.Set("WMaxLimPctRvrt", -1, 100))
	must(m704.SetRaw("WMaxLimPctEnaRvrt", -1, 0))
	must(m704.SetRaw("WMaxLimPctRvrtTms", -1, 0))
	imgs := []*sunspec.Image{m1, m103, m120, m123, m160, m704}
	if cfg.Legacy {
		imgs = imgs[:5]
	}
	inv := &inverter{sunspecUnit: newSunspecUnit(imgs...), cfg: cfg,
		stringWh: make([]float64, cfg.Strings), lastWrite: map[int]time.Time{}, limitedPct: 100}
	inv.energyWh = 1_234_000 // a plant that has been running for a while
	return inv
}

func (inv *inverter) write(addr int, vals []uint16) error {
	id, ok := inv.writableModel(addr, len(vals))
	if !ok {
		return mb.ErrIllegalDataAddress
	}
	copy(inv.regs[addr-inv.start:], vals)
	inv.lastWrite[id] = time.Time{} // stamped by the next update with simulated time
	return nil
}

// limitPct is the active curtailment, 704 first, honouring revert timeouts.
func (inv *inverter) limitPct(now time.Time) float64 {
	type ctl struct {
		id             int
		ena, pct, rvrt string
	}
	for _, c := range []ctl{{704, "WMaxLimPctEna", "WMaxLimPct", "WMaxLimPctRvrtTms"}, {123, "WMaxLim_Ena", "WMaxLimPct", "WMaxLimPct_RvrtTms"}} {
		img := inv.models[c.id]
		if img == nil {
			continue
		}
		b, err := sunspec.Decode(img.Model, img.Regs)
		if err != nil || b.Num[c.ena] != 1 {
			continue
		}
		if inv.lastWrite[c.id].IsZero() {
			inv.lastWrite[c.id] = now
		}
		if r := b.Num[c.rvrt]; r > 0 && now.Sub(inv.lastWrite[c.id]) > time.Duration(r)*time.Second {
			must(img.SetRaw(c.ena, -1, 0)) // revert: the controller went quiet
			continue
		}
		return math.Max(0, math.Min(100, b.Num[c.pct]))
	}
	return 100
}

func (inv *inverter) update(e *env) {
	rated := inv.cfg.RatedW
	avail := math.Min(rated, rated*0.85*e.ghi/1000*e.cloud)
	pct := inv.limitPct(e.now)
	inv.limitedPct = pct
	target := math.Min(avail, rated*pct/100)
	if inv.faultBits != 0 {
		target = 0
	}
	step := rampPerSecond * rated * e.dt.Seconds()
	if !inv.started { // the plant was already running when the simulation began
		step, inv.started = rated, true
	}
	inv.outW += math.Max(-step, math.Min(step, target-inv.outW))
	inv.outW = math.Max(0, inv.outW)
	inv.energyWh += inv.outW * e.dt.Hours()
	e.pvW += inv.outW
	m, m160 := inv.models[103], inv.models[160]
	st := 4.0
	switch {
	case inv.faultBits != 0:
		st = 7
	case avail < 10:
		st = 2
	case target < avail-1:
		st = 5
	}
	setRaw(m, "St", -1, st)
	setRaw(m, "Evt1", -1, float64(inv.faultBits))
	setRaw(m, "Evt2", -1, 0)
	v := [3]float64{230 + e.noise(2), 230 + e.noise(2), 230 + e.noise(2)}
	var amps float64
	for i, ph := range []string{"A", "B", "C"} {
		a := inv.outW / 3 / v[i]
		amps += a
		set(m, "Aph"+ph, -1, a)
		set(m, "PhVph"+ph, -1, v[i])
	}
	set(m, "A", -1, amps)
	set(m, "W", -1, inv.outW)
	set(m, "VA", -1, inv.outW)
	set(m, "VAr", -1, 0)
	set(m, "PF", -1, 100)
	set(m, "Hz", -1, 50+e.noise(0.02))
	set(m, "WH", -1, inv.energyWh)
	dcW := inv.outW / 0.97
	set(m, "DCW", -1, dcW)
	set(m, "DCV", -1, 600)
	set(m, "DCA", -1, dcW/600)
	set(m, "TmpCab", -1, 25+20*inv.outW/rated)
	set(m, "TmpSnk", -1, 30+25*inv.outW/rated)
	for i := range inv.stringWh {
		share := dcW / float64(len(inv.stringWh)) * (1 + 0.02*float64(i))
		volts := 580 + 10*float64(i)
		inv.stringWh[i] += share * e.dt.Hours()
		set(m160, "DCW", i, share)
		set(m160, "DCV", i, volts)
		set(m160, "DCA", i, share/volts)
		set(m160, "DCWH", i, inv.stringWh[i])
		setRaw(m160, "DCSt", i, st)
		setRaw(m160, "Tmp", i, 30)
	}
}

// absurd is a 10 MW claim: W = 10000 with W_SF = +3.
func (inv *inverter) absurd(fc, addr, n int) ([]uint16, error) {
	saved := append([]uint16(nil), inv.regs...)
	defer copy(inv.regs, saved)
	m := inv.models[103]
	setRaw(m, "W_SF", -1, 3)
	setRaw(m, "W", -1, 10000)
	return inv.read(fc, addr, n)
}

// set and setRaw ignore failures in the physics step: a test may have poked a
// scale factor to "not implemented", and then the value simply stays unset.
func set(img *sunspec.Image, name string, rep int, v float64) { _ = img.Set(name, rep, v) }

func setRaw(img *sunspec.Image, name string, rep int, v float64) { _ = img.SetRaw(name, rep, v) }
