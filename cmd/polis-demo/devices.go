package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/polis-edge/polis/edge"
	edgeconfig "github.com/polis-edge/polis/edge/config"
	fleetconfig "github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/modbus/modbussim"
	"github.com/polis-edge/polis/protocols/mqtt/mqttsim"
)

// site is where a demo office is, for its PV curve.
type site struct{ lat, lon float64 }

var sites = map[string]site{
	"47011": {43.84, 12.37}, // Montecopiolo
	"12054": {44.69, 7.18},  // Ostana
	"85020": {40.54, 16.04}, // Castelmezzano
}

// demoSensors are one office's sensors, in every payload shape the edge
// understands, with rare alarms and the odd silence.
var demoSensors = []mqttsim.SensorConfig{
	{ID: "th-hall", Kind: mqttsim.KindClimate, Shape: mqttsim.ShapeZigbee2MQTT, Password: "demo", SilentProb: 0.002},
	{ID: "air-desk", Kind: mqttsim.KindAir, Shape: mqttsim.ShapeTasmota, Password: "demo"},
	{ID: "door-main", Kind: mqttsim.KindContact, Shape: mqttsim.ShapeZigbee2MQTT, Password: "demo"},
	{ID: "leak-wc", Kind: mqttsim.KindLeak, Shape: mqttsim.ShapeZigbee2MQTT, Password: "demo", AlarmProb: 0.002},
	{ID: "smoke-hall", Kind: mqttsim.KindSmoke, Shape: mqttsim.ShapeZigbee2MQTT, Password: "demo", AlarmProb: 0.001},
	{ID: "plug-hvac", Kind: mqttsim.KindPlug, Shape: mqttsim.ShapeTasmota, Password: "demo"},
}

// office is one simulated post office: its devices' simulators and the edge
// config an installer would have written for them.
type office struct {
	id      string
	modbus  *modbussim.Sim
	cfgPath string
}

// startOffice starts the office's Modbus simulators and writes its edge.yaml.
func startOffice(ctx context.Context, dir string, o fleetconfig.Office, mqttFleet string) (*office, error) {
	s := sites[o.ID]
	simCfg := modbussim.DefaultConfig()
	simCfg.Lat, simCfg.Lon, simCfg.Seed, simCfg.Cloudiness = s.lat, s.lon, int64(seedOf(o.ID)), 0.3
	sim, err := modbussim.New(simCfg)
	if err != nil {
		return nil, fmt.Errorf("office %s: modbus simulator: %w", o.ID, err)
	}
	if err := sim.Start(ctx); err != nil {
		return nil, fmt.Errorf("office %s: modbus simulator: %w", o.ID, err)
	}
	data := filepath.Join(dir, "office-"+o.ID)
	if err := os.MkdirAll(data, 0o750); err != nil {
		return nil, err
	}
	path := filepath.Join(data, "edge.yaml")
	if err := os.WriteFile(path, []byte(edgeYAML(o, mqttFleet, sim)), 0o600); err != nil {
		return nil, err
	}
	return &office{id: o.ID, modbus: sim, cfgPath: path}, nil
}

// edgeYAML is the office's polis-edge config, as an installer writes it.
func edgeYAML(o fleetconfig.Office, mqttFleet string, sim *modbussim.Sim) string {
	y := fmt.Sprintf(`# polis-edge config of demo office %[1]s (%[2]s), written by polis-demo.
office: {id: "%[1]s", name: "%[2]s"}
data_dir: .
http: {listen: "127.0.0.1:0"}
telemetry: {interval: 5s}
uplink: {url: "tcp://%[3]s", password: "demo-%[1]s", backlog_rate: 20000}
modbus:
  buses:
    - {id: roof, url: "tcp://%[4]s", timeout: 1s}
    - {id: cabinet, url: "tcp://%[5]s", timeout: 1s}
  devices:
    - {id: inv1, bus: roof, unit: 1, kind: inverter, poll: 2s, sunspec: true, max_power_w: 30000}
    - {id: grid, bus: cabinet, unit: 1, kind: meter, poll: 2s, sunspec: true, max_power_w: 60000}
mqtt:
  listen: 127.0.0.1:0
  offline_after: 2m
  operators:
    - {username: facility, password: demo, may_open: ["bank1/*"], may_manage: ["bank1/*"]}
  devices:
`, o.ID, o.Name, mqttFleet, sim.Addr("inv1"), sim.Addr("meter1"))
	for _, s := range demoSensors {
		preset := s.Shape
		y += fmt.Sprintf("    - {id: %s, password: %s, preset: %s, room: %s}\n", s.ID, s.Password, preset, roomOf(s.ID))
	}
	y += "    - {id: bank1, kind: locker, password: demo}\n"
	return y + ocppYAML()
}

func roomOf(id string) string {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == '-' {
			return id[i+1:]
		}
	}
	return id
}

func (o *office) edgeConfig() (edgeconfig.Config, error) { return edgeconfig.Load(o.cfgPath) }

// runSensors connects the office's MQTT sensors and locker bank to its edge
// once the office broker listens.
func (o *office) runSensors(ctx context.Context, d *edge.Daemon, log *slog.Logger) error {
	for d.MQTT().Addr() == nil {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	cfg := mqttsim.Config{
		URL: "tcp://" + d.MQTT().Addr().String(), Interval: 10 * time.Second, Seed: seedOf(o.id),
		Sensors: demoSensors,
		Banks:   []mqttsim.BankConfig{{ID: "bank1", Password: "demo", Compartments: 24, ActivityPerHour: 30, DoorLeftOpenProb: 0.05}},
	}
	return mqttsim.Run(ctx, cfg, log.With("sim", "mqtt", "office", o.id))
}

// seedOf gives each office its own, repeatable randomness.
func seedOf(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64() >> 1
}
