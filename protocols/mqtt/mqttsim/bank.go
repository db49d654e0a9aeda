package mqttsim

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/protocols/mqtt/locker"
)

// BankConfig is one simulated parcel-locker bank.
type BankConfig struct {
	ID           string `yaml:"id"`
	Username     string `yaml:"username"` // defaults to ID
	Password     string `yaml:"password"`
	Compartments int    `yaml:"compartments"` // default 24
	// ActivityPerHour is the mean number of deposits+pickups per hour.
	ActivityPerHour float64 `yaml:"activity_per_hour"`
	// DoorLeftOpenProb is the chance a door stays open after a pickup.
	DoorLeftOpenProb float64 `yaml:"door_left_open_prob"`
	// PowerFailuresPerDay is the mean rate of mains failures; the
	// controller then runs on its UPS (status power "battery") until mains
	// returns, after OutageSeconds on average (default 600).
	PowerFailuresPerDay float64 `yaml:"power_failures_per_day"`
	OutageSeconds       float64 `yaml:"outage_seconds"`
	// FaultsPerDay is the mean rate of controller faults (reported, then
	// the controller carries on, as after a watchdog reset).
	FaultsPerDay float64 `yaml:"faults_per_day"`
}

// Bank is a locker controller speaking the locker protocol: it obeys
// commands once per id and never after their deadline.
type Bank struct {
	cfg    BankConfig
	url    string
	client paho.Client
	rng    *rand.Rand

	mu       sync.Mutex
	comps    map[string]*locker.Compartment
	results  map[string]locker.Result // executed command ids, for retries
	executed int
	seq      int
	power    string // mains, or battery during a power failure
}

// NewBank prepares a bank for the broker at url.
func NewBank(cfg BankConfig, url string, seed uint64) *Bank {
	if cfg.Username == "" {
		cfg.Username = cfg.ID
	}
	if cfg.Compartments == 0 {
		cfg.Compartments = 24
	}
	if cfg.OutageSeconds <= 0 {
		cfg.OutageSeconds = 600
	}
	b := &Bank{cfg: cfg, url: url, rng: rand.New(rand.NewPCG(seed, 7)), power: locker.PowerMains,
		comps: map[string]*locker.Compartment{}, results: map[string]locker.Result{}}
	for i := 1; i <= cfg.Compartments; i++ {
		id := fmt.Sprintf("%c%02d", 'A'+(i-1)/10, (i-1)%10+1)
		b.comps[id] = &locker.Compartment{ID: id, State: locker.StateEmpty, Door: "closed"}
	}
	return b
}

// Executed is how many commands the bank carried out (not counting retries).
func (b *Bank) Executed() int { b.mu.Lock(); defer b.mu.Unlock(); return b.executed }

// Run connects and simulates until ctx is done.
func (b *Bank) Run(ctx context.Context) error {
	avail := locker.Topic(b.cfg.ID, locker.KindAvailability)
	// Clean session: a command missed while offline has passed its deadline
	// by the time it would be redelivered, and the edge reports it timed out.
	opts := paho.NewClientOptions().AddBroker(b.url).SetClientID("sim-"+b.cfg.ID).
		SetUsername(b.cfg.Username).SetPassword(b.cfg.Password).SetCleanSession(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetBinaryWill(avail, []byte("offline"), 1, true).SetOrderMatters(true)
	opts.SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe(locker.Topic(b.cfg.ID, locker.KindCmd), 1, b.onCommand)
		c.Publish(avail, 1, true, []byte("online"))
		b.publishStatus()
	})
	b.client = paho.NewClient(opts)
	if tok := b.client.Connect(); tok.Wait() && tok.Error() != nil {
		return fmt.Errorf("bank %s connect: %w", b.cfg.ID, tok.Error())
	}
	defer b.client.Disconnect(250)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastStatus := time.Now()
	for {
		select {
		case <-ctx.Done():
			b.client.Publish(avail, 1, true, []byte("offline")).WaitTimeout(time.Second)
			return nil
		case now := <-tick.C:
			b.step(now)
			if now.Sub(lastStatus) >= time.Minute {
				b.publishStatus()
				lastStatus = now
			}
		}
	}
}

// step runs one second of customer and courier activity.
func (b *Bank) step(now time.Time) {
	b.hazards()
	if b.cfg.ActivityPerHour <= 0 || !b.chance(b.cfg.ActivityPerHour/3600) {
		b.closeDoors()
		return
	}
	b.mu.Lock()
	ids := b.sortedIDs()
	c := b.comps[ids[b.rng.IntN(len(ids))]]
	var evs []locker.Event
	switch c.State {
	case locker.StateEmpty:
		c.State, c.Parcel = locker.StateOccupied, fmt.Sprintf("PI%09d", b.rng.IntN(1e9))
		evs = append(evs, b.event(locker.EventDoorOpened, c.ID, ""), b.event(locker.EventDeposit, c.ID, c.Parcel), b.event(locker.EventDoorClosed, c.ID, ""))
	case locker.StateOccupied:
		evs = append(evs, b.event(locker.EventDoorOpened, c.ID, ""), b.event(locker.EventPickup, c.ID, c.Parcel))
		c.Parcel = ""
		if b.rng.Float64() < b.cfg.DoorLeftOpenProb {
			c.State, c.Door = locker.StateOpen, "open"
			evs = append(evs, b.event(locker.EventDoorLeftOpen, c.ID, ""))
		} else {
			c.State = locker.StateEmpty
			evs = append(evs, b.event(locker.EventDoorClosed, c.ID, ""))
		}
	}
	b.mu.Unlock()
	for _, e := range evs {
		b.publishEvent(e)
	}
	b.publishStatus()
}

// closeDoors closes doors opened by command, now and then.
func (b *Bank) closeDoors() {
	b.mu.Lock()
	var evs []locker.Event
	for _, id := range b.sortedIDs() {
		c := b.comps[id]
		if c.Door == "open" && b.rng.Float64() < 0.02 {
			c.Door, c.State = "closed", locker.StateEmpty
			if c.Parcel != "" {
				c.State = locker.StateOccupied
			}
			evs = append(evs, b.event(locker.EventDoorClosed, id, ""))
		}
	}
	b.mu.Unlock()
	for _, e := range evs {
		b.publishEvent(e)
	}
}

// Tamper reports a forced compartment, as a technician would trigger.
func (b *Bank) Tamper(compartment string) {
	b.mu.Lock()
	e := b.event(locker.EventTamper, compartment, "")
	e.Detail = "door forced without command"
	b.mu.Unlock()
	b.publishEvent(e)
}

func (b *Bank) onCommand(_ paho.Client, m paho.Message) {
	var cmd locker.Command
	res := locker.Result{V: locker.Version, Time: time.Now().UTC()}
	if err := locker.Decode(m.Payload(), &cmd); err != nil {
		return // nothing to answer: no usable id
	}
	res.ID = cmd.ID
	b.mu.Lock()
	if prev, done := b.results[cmd.ID]; done {
		b.mu.Unlock()
		b.publish(locker.KindResult, prev)
		return
	}
	res.Result, res.Reason = b.execute(cmd)
	b.results[cmd.ID] = res
	b.mu.Unlock()
	b.publish(locker.KindResult, res)
	b.publishStatus()
}

// execute runs a command; the caller holds mu.
func (b *Bank) execute(cmd locker.Command) (string, string) {
	if time.Now().After(cmd.Deadline) {
		return locker.ResultRefused, "deadline passed"
	}
	if cmd.Cmd == locker.CmdRequestStatus {
		return locker.ResultDone, ""
	}
	c, ok := b.comps[cmd.Compartment]
	if !ok {
		return locker.ResultRefused, "no compartment " + cmd.Compartment
	}
	b.executed++
	switch cmd.Cmd {
	case locker.CmdOpen:
		if c.State == locker.StateOutOfService || c.State == locker.StateFault {
			return locker.ResultRefused, "compartment is " + c.State
		}
		c.Door, c.State = "open", locker.StateOpen
		return locker.ResultDone, ""
	default: // set_out_of_service
		if cmd.OutOfService != nil && *cmd.OutOfService {
			c.State = locker.StateOutOfService
		} else {
			c.State = locker.StateEmpty
		}
		return locker.ResultDone, ""
	}
}

func (b *Bank) event(typ, comp, parcel string) locker.Event {
	b.seq++
	return locker.Event{V: locker.Version, ID: fmt.Sprintf("%s-%d-%d", b.cfg.ID, time.Now().Unix(), b.seq),
		Type: typ, Compartment: comp, Parcel: parcel, Time: time.Now().UTC()}
}

func (b *Bank) publishEvent(e locker.Event) { b.publish(locker.KindEvent, e) }

func (b *Bank) publishStatus() {
	b.mu.Lock()
	temp := 18 + 4*b.rng.Float64()
	st := locker.Status{V: locker.Version, Bank: b.cfg.ID, Online: true, Power: b.power, TemperatureC: &temp, Time: time.Now().UTC()}
	for _, id := range b.sortedIDs() {
		st.Compartments = append(st.Compartments, *b.comps[id])
	}
	b.mu.Unlock()
	payload, _ := json.Marshal(st)
	b.client.Publish(locker.Topic(b.cfg.ID, locker.KindStatus), 1, true, payload)
}

func (b *Bank) publish(kind string, v any) {
	payload, _ := json.Marshal(v)
	b.client.Publish(locker.Topic(b.cfg.ID, kind), 1, false, payload)
}

func (b *Bank) sortedIDs() []string {
	ids := make([]string, 0, len(b.comps))
	for id := range b.comps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
