// Package simoffice is one simulated post office: a SunSpec inverter and
// meter over Modbus TCP, MQTT sensors in every payload shape and a locker
// bank, and OCPP charge points with cars coming and going, plus the
// polis-edge config an installer would write for exactly these devices.
// polis-sim runs one standalone; polis-demo runs several beside real edges.
package simoffice

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/polis-edge/polis/protocols/modbus/modbussim"
	"github.com/polis-edge/polis/protocols/mqtt/mqttsim"
)

// Config places the office and its simulators.
type Config struct {
	ID, Name string
	Lat, Lon float64 // for the PV curve; default Rome
	// Modbus addresses of the inverter and the meter; "" = a free port.
	InverterAddr, MeterAddr string
}

// Office is a running simulated office.
type Office struct {
	cfg    Config
	seed   uint64
	modbus *modbussim.Sim
}

// Sensors are one office's sensors, in every payload shape the edge
// understands, with rare alarms and the odd silence.
var Sensors = []mqttsim.SensorConfig{
	{ID: "th-hall", Kind: mqttsim.KindClimate, Shape: mqttsim.ShapeZigbee2MQTT, Password: "demo", SilentProb: 0.002},
	{ID: "air-desk", Kind: mqttsim.KindAir, Shape: mqttsim.ShapeTasmota, Password: "demo"},
	{ID: "door-main", Kind: mqttsim.KindContact, Shape: mqttsim.ShapeZigbee2MQTT, Password: "demo"},
	{ID: "leak-wc", Kind: mqttsim.KindLeak, Shape: mqttsim.ShapeZigbee2MQTT, Password: "demo", AlarmProb: 0.002},
	{ID: "smoke-hall", Kind: mqttsim.KindSmoke, Shape: mqttsim.ShapeZigbee2MQTT, Password: "demo", AlarmProb: 0.001},
	{ID: "plug-hvac", Kind: mqttsim.KindPlug, Shape: mqttsim.ShapeTasmota, Password: "demo"},
}

// Start starts the office's Modbus devices; MQTT and OCPP devices are clients
// and start with RunSensors and RunChargers once the edge listens.
func Start(ctx context.Context, cfg Config) (*Office, error) {
	o := &Office{cfg: cfg, seed: seedOf(cfg.ID)}
	sim := modbussim.DefaultConfig()
	if cfg.Lat != 0 || cfg.Lon != 0 {
		sim.Lat, sim.Lon = cfg.Lat, cfg.Lon
	}
	sim.Seed, sim.Cloudiness = int64(o.seed), 0.3
	for i := range sim.Devices {
		switch sim.Devices[i].Name {
		case "inv1":
			sim.Devices[i].Addr = orFree(cfg.InverterAddr)
		case "meter1":
			sim.Devices[i].Addr = orFree(cfg.MeterAddr)
		}
	}
	m, err := modbussim.New(sim)
	if err != nil {
		return nil, fmt.Errorf("office %s: modbus simulator: %w", cfg.ID, err)
	}
	if err := m.Start(ctx); err != nil {
		return nil, fmt.Errorf("office %s: modbus simulator: %w", cfg.ID, err)
	}
	o.modbus = m
	return o, nil
}

func orFree(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}

// EdgeYAML is the office's polis-edge config, as an installer writes it for
// these devices. mqttListen and ocppListen are where the edge serves sensors
// and chargers ("127.0.0.1:0" picks free ports).
func (o *Office) EdgeYAML(fleetMQTT, password, mqttListen, ocppListen string) string {
	y := fmt.Sprintf(`# polis-edge config of simulated office %[1]s (%[2]s).
office: {id: "%[1]s", name: "%[2]s"}
data_dir: .
http: {listen: "127.0.0.1:0"}
telemetry: {interval: 5s}
uplink: {url: "tcp://%[3]s", password: "%[4]s", backlog_rate: 20000}
modbus:
  buses:
    - {id: roof, url: "tcp://%[5]s", timeout: 1s}
    - {id: cabinet, url: "tcp://%[6]s", timeout: 1s}
  devices:
    - {id: inv1, bus: roof, unit: 1, kind: inverter, poll: 2s, sunspec: true, max_power_w: 30000}
    - {id: grid, bus: cabinet, unit: 1, kind: meter, poll: 2s, sunspec: true, max_power_w: 60000}
mqtt:
  listen: %[7]s
  offline_after: 2m
  operators:
    - {username: facility, password: demo, may_open: ["bank1/*"], may_manage: ["bank1/*"]}
  devices:
`, o.cfg.ID, o.cfg.Name, fleetMQTT, password, o.modbus.Addr("inv1"), o.modbus.Addr("meter1"), mqttListen)
	for _, s := range Sensors {
		y += fmt.Sprintf("    - {id: %s, password: %s, preset: %s, room: %s}\n", s.ID, s.Password, s.Shape, roomOf(s.ID))
	}
	y += "    - {id: bank1, kind: locker, password: demo}\n"
	return y + ocppYAML(ocppListen) + rulesYAML
}

// rulesYAML: the simulated office runs the energy rules (docs/energy-rules.md)
// against its simulated meter, inverter and chargers: a 6 kW supply, so the
// two chargers and the building must share it and the allocation moves.
const rulesYAML = `rules:
  contracted_kw: 6
  grid_meter: grid
  pv_peak_w: 20000
  max_jump_w: 60000
  prices: {f1: 0.32, f2: 0.27, f3: 0.21}
  groups:
    fleet: {departure: "07:30", energy_kwh: 30}
  alerts:
    - {name: co2-high, when: 'env["air-desk"].co2_ppm > 1500 for 5m', severity: warning, message: "CO2 at the desk above 1500 ppm"}
`

func roomOf(id string) string {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == '-' {
			return id[i+1:]
		}
	}
	return id
}

// RunSensors connects the sensors and the locker bank to the office broker at
// url (tcp://host:port) and simulates until ctx is done.
func (o *Office) RunSensors(ctx context.Context, url string, log *slog.Logger) error {
	cfg := mqttsim.Config{
		URL: url, Interval: 10 * time.Second, Seed: o.seed, Sensors: Sensors,
		// Rare mains failures and controller faults, so the dashboard shows alarms.
		Banks: []mqttsim.BankConfig{{ID: "bank1", Password: "demo", Compartments: 24, ActivityPerHour: 30,
			DoorLeftOpenProb: 0.05, PowerFailuresPerDay: 2, OutageSeconds: 120, FaultsPerDay: 1}},
	}
	return mqttsim.Run(ctx, cfg, log.With("sim", "mqtt", "office", o.cfg.ID))
}

// seedOf gives each office its own, repeatable randomness.
func seedOf(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64() >> 1
}
