package mqttsim

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Sensor kinds and payload shapes.
const (
	KindClimate = "climate" // temperature + humidity
	KindAir     = "air"     // CO2, PM2.5, PM10, VOC, temperature, humidity
	KindLight   = "light"   // illuminance
	KindContact = "contact" // door/window
	KindLeak    = "leak"
	KindSmoke   = "smoke"
	KindPlug    = "plug" // sub-meter power/energy

	ShapeZigbee2MQTT = "zigbee2mqtt"
	ShapeTasmota     = "tasmota"
	ShapeCustom      = "custom" // {"readings":[{"type":"temp","value":215},...]} (tenths)
)

// SensorConfig is one simulated sensor.
type SensorConfig struct {
	ID       string `yaml:"id"`
	Kind     string `yaml:"kind"`
	Shape    string `yaml:"shape"`
	Username string `yaml:"username"` // defaults to ID
	Password string `yaml:"password"`
	// SilentProb is the chance per interval that the sensor goes quiet for
	// a while (dead battery, radio trouble); AlarmProb the chance of a leak
	// or smoke alarm per interval.
	SilentProb float64 `yaml:"silent_prob"`
	AlarmProb  float64 `yaml:"alarm_prob"`
}

// Sensor publishes plausible readings for one device.
type Sensor struct {
	cfg      SensorConfig
	url      string
	interval time.Duration
	rng      *rand.Rand
	energy   float64
	alarm    int // intervals left in alarm
	silent   int // intervals left silent
}

// NewSensor checks cfg and prepares a sensor.
func NewSensor(cfg SensorConfig, url string, interval time.Duration, seed uint64) (*Sensor, error) {
	switch cfg.Kind {
	case KindClimate, KindAir, KindLight, KindContact, KindLeak, KindSmoke, KindPlug:
	default:
		return nil, fmt.Errorf("kind %q unknown", cfg.Kind)
	}
	switch cfg.Shape {
	case ShapeZigbee2MQTT, ShapeTasmota, ShapeCustom:
	default:
		return nil, fmt.Errorf("shape %q unknown", cfg.Shape)
	}
	if cfg.Username == "" {
		cfg.Username = cfg.ID
	}
	return &Sensor{cfg: cfg, url: url, interval: interval, rng: rand.New(rand.NewPCG(seed, 11)), energy: 1000 * float64(seed%7+1)}, nil
}

// Topic is where the sensor publishes its readings.
func (s *Sensor) Topic() string {
	switch s.cfg.Shape {
	case ShapeZigbee2MQTT:
		return "zigbee2mqtt/" + s.cfg.ID
	case ShapeTasmota:
		return "tele/" + s.cfg.ID + "/SENSOR"
	}
	return "sensors/" + s.cfg.ID + "/data"
}

func (s *Sensor) availabilityTopic() (string, string, string) {
	switch s.cfg.Shape {
	case ShapeTasmota:
		return "tele/" + s.cfg.ID + "/LWT", "Online", "Offline"
	case ShapeZigbee2MQTT:
		return "zigbee2mqtt/" + s.cfg.ID + "/availability", `{"state":"online"}`, `{"state":"offline"}`
	}
	return "sensors/" + s.cfg.ID + "/availability", "online", "offline"
}

// Run connects and publishes every interval until ctx is done.
func (s *Sensor) Run(ctx context.Context) error {
	at, on, off := s.availabilityTopic()
	opts := paho.NewClientOptions().AddBroker(s.url).SetClientID("sim-"+s.cfg.ID).
		SetUsername(s.cfg.Username).SetPassword(s.cfg.Password).SetWill(at, off, 1, true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second)
	opts.SetOnConnectHandler(func(c paho.Client) { c.Publish(at, 1, true, on) })
	c := paho.NewClient(opts)
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		return fmt.Errorf("sensor %s connect: %w", s.cfg.ID, tok.Error())
	}
	defer c.Disconnect(250)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		if p := s.Payload(time.Now()); p != nil {
			c.Publish(s.Topic(), 1, false, p)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// open reports office opening hours (Mon–Fri 08:20–13:45, Sat 08:20–12:45).
func open(t time.Time) bool {
	m := t.Hour()*60 + t.Minute()
	switch t.Weekday() {
	case time.Sunday:
		return false
	case time.Saturday:
		return m >= 500 && m < 765
	}
	return m >= 500 && m < 825
}

// Reading is the physical state the sensor measures at time t.
func (s *Sensor) reading(t time.Time) map[string]float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	heating := t.Weekday() != time.Sunday && h >= 6.5 && h < 19
	temp := 15.5 + 1.5*math.Sin((h-9)/24*2*math.Pi)
	if heating {
		temp = 20.5 + 0.4*math.Sin(h) // thermostat hunting around the set point
	}
	customers := 0.0
	if open(t) {
		customers = 3 + 3*math.Sin((h-8.3)/5.5*math.Pi) + s.rng.Float64()*2
	}
	co2 := 420 + customers*120 + s.rng.NormFloat64()*15
	daylight := math.Max(0, math.Sin((h-6.5)/13*math.Pi)) * 800
	if open(t) {
		daylight += 300 // lights on
	}
	return map[string]float64{
		"temperature": temp + s.rng.NormFloat64()*0.1,
		"humidity":    50 - (temp-18)*2 + s.rng.NormFloat64(),
		"co2":         math.Max(400, co2),
		"pm25":        6 + customers*0.8 + math.Abs(s.rng.NormFloat64()*2),
		"pm10":        10 + customers*1.5 + math.Abs(s.rng.NormFloat64()*3),
		"voc":         80 + customers*25 + math.Abs(s.rng.NormFloat64()*10),
		"illuminance": daylight,
		"power":       map[bool]float64{true: 900, false: 60}[heating] + s.rng.Float64()*80,
		"customers":   customers,
	}
}

// Payload returns the next message, or nil while the sensor is silent.
func (s *Sensor) Payload(t time.Time) []byte {
	if s.silent > 0 {
		s.silent--
		return nil
	}
	if s.rng.Float64() < s.cfg.SilentProb {
		s.silent = 5 + s.rng.IntN(20)
		return nil
	}
	if s.alarm > 0 {
		s.alarm--
	} else if s.rng.Float64() < s.cfg.AlarmProb {
		s.alarm = 3
	}
	r := s.reading(t)
	s.energy += r["power"] * s.interval.Hours() / 1000
	var fields map[string]any
	switch s.cfg.Kind {
	case KindClimate:
		fields = map[string]any{"temperature": round(r["temperature"], 1), "humidity": round(r["humidity"], 1)}
	case KindAir:
		fields = map[string]any{"co2": math.Round(r["co2"]), "pm25": round(r["pm25"], 1), "pm10": round(r["pm10"], 1),
			"voc": math.Round(r["voc"]), "temperature": round(r["temperature"], 1), "humidity": round(r["humidity"], 1)}
	case KindLight:
		fields = map[string]any{"illuminance": math.Round(r["illuminance"])}
	case KindContact:
		fields = map[string]any{"contact": s.rng.Float64() > r["customers"]/10}
	case KindLeak:
		fields = map[string]any{"water_leak": s.alarm > 0}
	case KindSmoke:
		fields = map[string]any{"smoke": s.alarm > 0}
	case KindPlug:
		fields = map[string]any{"power": round(r["power"], 1), "energy": round(s.energy, 3), "voltage": round(230+s.rng.NormFloat64(), 1), "current": round(r["power"]/230, 2)}
	}
	return s.shape(fields)
}

// shape renders fields the way the device family does.
func (s *Sensor) shape(f map[string]any) []byte {
	var doc any
	switch s.cfg.Shape {
	case ShapeZigbee2MQTT:
		if s.cfg.Kind != KindPlug {
			f["battery"] = 80 + s.rng.IntN(20)
		}
		f["linkquality"] = 40 + s.rng.IntN(200)
		doc = f
	case ShapeTasmota:
		d := map[string]any{"Time": time.Now().Format("2006-01-02T15:04:05"), "TempUnit": "C"}
		if s.cfg.Kind == KindPlug {
			d["ENERGY"] = map[string]any{"Power": f["power"], "Total": f["energy"], "Voltage": f["voltage"], "Current": f["current"]}
		} else {
			d["SCD30"] = map[string]any{"CarbonDioxide": f["co2"], "Temperature": f["temperature"], "Humidity": f["humidity"]}
			if s.cfg.Kind == KindLight {
				d = map[string]any{"BH1750": map[string]any{"Illuminance": f["illuminance"]}}
			}
		}
		doc = d
	default:
		var rs []map[string]any
		for k, v := range f {
			if x, ok := v.(float64); ok {
				rs = append(rs, map[string]any{"type": k, "value": math.Round(x * 10)})
			}
		}
		doc = map[string]any{"dev": s.cfg.ID, "readings": rs}
	}
	b, _ := json.Marshal(doc)
	return b
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
