package modbussim

import (
	"math"

	mb "github.com/simonvetter/modbus"
)

// gridState is what every simulated meter measures at the connection point.
type gridState struct {
	importWh, exportWh float64
}

func (g *gridState) advance(e *env) {
	if e.gridW > 0 {
		g.importWh += e.gridW * e.dt.Hours()
	} else {
		g.exportWh -= e.gridW * e.dt.Hours()
	}
}

// phaseSplit shares power over three phases with a little imbalance.
func phaseSplit(w float64) [3]float64 {
	return [3]float64{w * 0.36, w * 0.33, w * 0.31}
}

// sunspecMeter is a SunSpec three-phase wye meter (model 203).
type sunspecMeter struct {
	*sunspecUnit
	gridState
}

func newSunspecMeter(cfg DeviceConfig) *sunspecMeter {
	m1, m203 := image(1, 0), image(203, 0)
	must(m1.SetString("Mn", "Polis Sim"))
	must(m1.SetString("Md", "Meter-203"))
	must(m1.SetString("SN", "SIM-"+cfg.Name))
	for name, sf := range map[string]float64{"A_SF": -2, "V_SF": -1, "Hz_SF": -2, "W_SF": 0,
		"VA_SF": 0, "VAR_SF": 0, "PF_SF": -1, "TotWh_SF": 0} {
		must(m203.SetRaw(name, -1, sf))
	}
	must(m203.SetRaw("Evt", -1, 0))
	m := &sunspecMeter{sunspecUnit: newSunspecUnit(m1, m203)}
	m.importWh, m.exportWh = 5_000_000, 800_000
	return m
}

func (m *sunspecMeter) write(int, []uint16) error { return mb.ErrIllegalDataAddress }

func (m *sunspecMeter) update(e *env) {
	m.advance(e)
	img := m.models[203]
	p := phaseSplit(e.gridW)
	var amps float64
	for i, ph := range []string{"A", "B", "C"} {
		v := 231 + e.noise(1.5)
		a := math.Abs(p[i]) / v
		amps += a
		set(img, "Wph"+ph, -1, p[i])
		set(img, "PhVph"+ph, -1, v)
		set(img, "Aph"+ph, -1, a)
	}
	set(img, "PhV", -1, 231)
	set(img, "A", -1, amps)
	set(img, "W", -1, e.gridW)
	set(img, "VA", -1, math.Abs(e.gridW))
	set(img, "PF", -1, 98)
	set(img, "Hz", -1, 50+e.noise(0.02))
	set(img, "TotWhImp", -1, m.importWh)
	set(img, "TotWhExp", -1, m.exportWh)
}

func (m *sunspecMeter) absurd(fc, addr, n int) ([]uint16, error) {
	saved := append([]uint16(nil), m.regs...)
	defer copy(m.regs, saved)
	must(m.models[203].SetRaw("W_SF", -1, 4))
	must(m.models[203].SetRaw("W", -1, 5000)) // 50 MW
	return m.read(fc, addr, n)
}

// sdm630 serves the Eastron SDM630 map: input registers, float32, high word
// first. Addresses are typed from the vendor documentation on purpose rather
// than taken from the template, so a wrong template fails the tests.
type sdm630 struct {
	bank
	gridState
}

func newSDM630() *sdm630 {
	m := &sdm630{bank: bank{start: 0, regs: make([]uint16, 0x180)}}
	m.importWh, m.exportWh = 12_345_000, 678_000
	return m
}

func (m *sdm630) read(fc, addr, n int) ([]uint16, error) {
	if fc != 4 {
		return nil, mb.ErrIllegalFunction
	}
	return m.slice(addr, n)
}

func (m *sdm630) write(int, []uint16) error { return mb.ErrIllegalDataAddress }

func (m *sdm630) update(e *env) {
	m.advance(e)
	p := phaseSplit(e.gridW)
	for i := 0; i < 3; i++ {
		v := 230 + e.noise(1.5)
		m.putF32(0x00+2*i, v)
		m.putF32(0x06+2*i, math.Abs(p[i])/v)
		m.putF32(0x0C+2*i, p[i])
		m.putF32(0x1E+2*i, 0.98)
	}
	m.putF32(0x34, e.gridW)
	m.putF32(0x3E, 0.98)
	m.putF32(0x46, 50+e.noise(0.02))
	m.putF32(0x48, m.importWh/1000)
	m.putF32(0x4A, m.exportWh/1000)
	m.putF32(0x156, (m.importWh+m.exportWh)/1000)
}

func (m *sdm630) absurd(fc, addr, n int) ([]uint16, error) {
	saved := append([]uint16(nil), m.regs...)
	defer copy(m.regs, saved)
	m.putF32(0x34, 1e9)
	return m.read(fc, addr, n)
}

// em24 serves the Carlo Gavazzi EM24 map: INT32 low word first, fixed decimals.
type em24 struct {
	bank
	gridState
}

func newEM24() *em24 {
	m := &em24{bank: bank{start: 0, regs: make([]uint16, 0x100)}}
	m.importWh, m.exportWh = 7_654_300, 123_400
	return m
}

func (m *em24) read(fc, addr, n int) ([]uint16, error) {
	if fc != 3 && fc != 4 {
		return nil, mb.ErrIllegalFunction
	}
	return m.slice(addr, n)
}

func (m *em24) write(int, []uint16) error { return mb.ErrIllegalDataAddress }

func (m *em24) update(e *env) {
	m.advance(e)
	p := phaseSplit(e.gridW)
	for i := 0; i < 3; i++ {
		v := 230 + e.noise(1.5)
		m.putS32LowFirst(0x00+2*i, v*10)
		m.putS32LowFirst(0x0C+2*i, math.Abs(p[i])/v*1000)
		m.putS32LowFirst(0x12+2*i, p[i]*10)
	}
	m.putS32LowFirst(0x28, e.gridW*10)
	m.regs[0x33] = uint16(math.Round((50 + e.noise(0.02)) * 10))
	m.putS32LowFirst(0x34, m.importWh/100)
	m.putS32LowFirst(0x4E, m.exportWh/100)
}

func (m *em24) absurd(fc, addr, n int) ([]uint16, error) {
	saved := append([]uint16(nil), m.regs...)
	defer copy(m.regs, saved)
	m.putS32LowFirst(0x28, 2e9)
	return m.read(fc, addr, n)
}
