package modbussim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// tick is how often (wall time) the physics advance.
const tick = 200 * time.Millisecond

// env is one physics step's shared world.
type env struct {
	now                          time.Time
	dt                           time.Duration
	ghi, cloud                   float64
	pvW, loadW, chargersW, gridW float64
	rng                          *rand.Rand
}

func (e *env) noise(amp float64) float64 { return amp * (2*e.rng.Float64() - 1) }

// State is the simulated office at one instant.
type State struct {
	Now                          time.Time
	IrradianceWm2                float64
	PVW, LoadW, ChargersW, GridW float64 // grid positive = import
}

type simDevice struct {
	cfg    DeviceConfig
	u      unitSim
	faults Faults
	pokes  map[int][]uint16 // persistent register overrides
	saved  map[int][]uint16 // what the pokes replaced
}

// Sim is a running simulated office.
type Sim struct {
	cfg       Config
	mu        sync.Mutex
	devices   map[string]*simDevice
	order     []*simDevice
	endpoints []*endpoint
	clouds    *clouds
	rng       *rand.Rand
	simStart  time.Time
	wallStart time.Time
	last      time.Time
	chargers  func() float64
	state     State
	wg        sync.WaitGroup
}

// New builds the simulator; Start binds its sockets.
func New(cfg Config) (*Sim, error) {
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sim{cfg: cfg, devices: map[string]*simDevice{}, clouds: newClouds(cfg.Seed, cfg.Cloudiness),
		rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x10ad))}
	s.simStart = time.Now()
	if cfg.Clock != "" {
		s.simStart, _ = time.Parse(time.RFC3339, cfg.Clock)
	}
	for _, dc := range cfg.Devices {
		d := &simDevice{cfg: dc, faults: dc.Faults, pokes: map[int][]uint16{}, saved: map[int][]uint16{}}
		switch dc.Type {
		case TypeInverter:
			d.u = newInverter(dc)
		case TypeMeter:
			d.u = newSunspecMeter(dc)
		case TypeSDM630:
			d.u = newSDM630()
		case TypeEM24:
			d.u = newEM24()
		}
		s.devices[dc.Name] = d
		s.order = append(s.order, d)
	}
	return s, nil
}

// SetChargerPower installs the hook that tells the meters how much the EV
// chargers draw (W); the OCPP simulator provides it.
func (s *Sim) SetChargerPower(f func() float64) {
	s.mu.Lock()
	s.chargers = f
	s.mu.Unlock()
}

// Now is the simulated time.
func (s *Sim) Now() time.Time {
	return s.simStart.Add(time.Duration(float64(time.Since(s.wallStart)) * s.cfg.Speed))
}

// Start binds every server and starts the physics; it returns once all
// addresses are known. Everything stops when ctx is done.
func (s *Sim) Start(ctx context.Context) error {
	s.wallStart = time.Now()
	s.last = s.simStart
	s.step()
	byAddr := map[string]*endpoint{}
	for _, d := range s.order {
		key := d.cfg.Gateway
		if key == "" {
			key = d.cfg.Addr
			if _, port, _ := net.SplitHostPort(key); port == "0" {
				key = "device:" + d.cfg.Name
			}
		}
		ep := byAddr[key]
		if ep == nil {
			ep = &endpoint{sim: s, units: map[uint8]*simDevice{}}
			if err := ep.listen(d.cfg.Addr); err != nil {
				s.Close()
				return fmt.Errorf("modbussim %s: %w", d.cfg.Name, err)
			}
			byAddr[key] = ep
			s.endpoints = append(s.endpoints, ep)
		}
		if ep.units[d.cfg.Unit] != nil {
			s.Close()
			return fmt.Errorf("modbussim %s: unit %d already used on %s", d.cfg.Name, d.cfg.Unit, d.cfg.Addr)
		}
		ep.units[d.cfg.Unit] = d
		ep.names = append(ep.names, d.cfg.Name)
	}
	for _, ep := range s.endpoints {
		s.wg.Go(func() { ep.accept() })
	}
	s.wg.Go(func() { s.physics(ctx) })
	context.AfterFunc(ctx, s.Close)
	return nil
}

// Run starts the simulator and blocks until ctx is done.
func (s *Sim) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	s.wg.Wait()
	return nil
}

// Close stops all servers.
func (s *Sim) Close() {
	for _, ep := range s.endpoints {
		ep.close()
	}
}

// Addr returns the bound address of a device ("" if unknown).
func (s *Sim) Addr(name string) string {
	for _, ep := range s.endpoints {
		for _, n := range ep.names {
			if n == name {
				return ep.ln.Addr().String()
			}
		}
	}
	return ""
}

// Addrs maps device names to bound addresses.
func (s *Sim) Addrs() map[string]string {
	out := map[string]string{}
	for _, d := range s.order {
		out[d.cfg.Name] = s.Addr(d.cfg.Name)
	}
	return out
}

// State returns the latest physics step.
func (s *Sim) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *Sim) physics(ctx context.Context) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.step()
		}
	}
}

// step advances the world to Now and refreshes every register bank.
func (s *Sim) step() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	e := &env{now: now, dt: now.Sub(s.last), rng: s.rng}
	s.last = now
	e.ghi = clearSkyGHI(s.cfg.Lat, s.cfg.Lon, now)
	e.cloud = s.clouds.step(e.dt)
	e.loadW = officeLoad(s.cfg.BaseLoadW, s.cfg.PeakLoadW, now, s.rng)
	if s.chargers != nil {
		e.chargersW = s.chargers()
	}
	for _, d := range s.order { // inverters first: meters need their output
		if d.cfg.Type == TypeInverter {
			d.u.update(e)
		}
	}
	e.gridW = e.loadW + e.chargersW - e.pvW
	for _, d := range s.order {
		if d.cfg.Type != TypeInverter {
			d.u.update(e)
		}
		d.applyPokes()
	}
	s.state = State{Now: now, IrradianceWm2: e.ghi * e.cloud, PVW: e.pvW, LoadW: e.loadW, ChargersW: e.chargersW, GridW: e.gridW}
}

// serve answers one request for a unit; used by the TCP handler and RTU.
func (s *Sim) serve(d *simDevice, fc int, addr, n int, vals []uint16) ([]uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fc == 16 || fc == 6 {
		return nil, d.u.write(addr, vals)
	}
	if d.faults.Nonsense > 0 && s.rng.Float64() < d.faults.Nonsense {
		return d.u.absurd(fc, addr, n)
	}
	return d.u.read(fc, addr, n)
}

func (s *Sim) serveErr(d *simDevice, fc int, addr, n int, vals []uint16) error {
	_, err := s.serve(d, fc, addr, n, vals)
	return err
}
