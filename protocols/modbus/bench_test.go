//go:build bench

// The 50-device benchmark: `go test -tags bench -run TestBench50Devices -v ./protocols/modbus/`
// (POLIS_BENCH_SECONDS sets the duration, default 30). The simulator runs in a
// child process so the CPU figure is the edge's own.
package modbus_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/modbus"
	"github.com/polis-edge/polis/protocols/modbus/modbussim"
	"github.com/polis-edge/polis/protocols/sample"
)

const benchDevices = 50

func benchSimConfig() modbussim.Config {
	c := modbussim.Config{Clock: noon, Seed: 1}
	types := []string{modbussim.TypeInverter, modbussim.TypeMeter, modbussim.TypeSDM630, modbussim.TypeEM24}
	for i := 0; i < benchDevices; i++ {
		c.Devices = append(c.Devices, modbussim.DeviceConfig{Name: fmt.Sprintf("d%02d", i), Type: types[i%len(types)]})
	}
	return c
}

func TestMain(m *testing.M) {
	if os.Getenv("POLIS_BENCH_SIM_CHILD") == "1" {
		runSimChild()
		return
	}
	os.Exit(m.Run())
}

// runSimChild serves the simulated devices until stdin closes.
func runSimChild() {
	ctx, cancel := context.WithCancel(context.Background())
	sim, err := modbussim.New(benchSimConfig())
	if err == nil {
		err = sim.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(sim.Addrs())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	cancel()
}

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestBench50Devices(t *testing.T) {
	secs := 30
	if v, err := strconv.Atoi(os.Getenv("POLIS_BENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), "POLIS_BENCH_SIM_CHILD=1")
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var addrs map[string]string
	if err := json.NewDecoder(stdout).Decode(&addrs); err != nil {
		t.Fatal(err)
	}
	simCfg := benchSimConfig()
	var cfg modbus.Config
	for _, d := range simCfg.Devices {
		dc := modbus.DeviceConfig{ID: d.Name, Bus: d.Name, Unit: 1, Poll: time.Second}
		switch d.Type {
		case modbussim.TypeInverter:
			dc.Kind, dc.SunSpec = modbus.KindInverter, true
		case modbussim.TypeMeter:
			dc.Kind, dc.SunSpec = modbus.KindMeter, true
		default:
			dc.Kind, dc.Template = modbus.KindMeter, d.Type
		}
		cfg.Buses = append(cfg.Buses, modbus.BusConfig{ID: d.Name, URL: "tcp://" + addrs[d.Name]})
		cfg.Devices = append(cfg.Devices, dc)
	}
	rec := &countingSink{}
	svc, err := modbus.New(cfg, rec, quiet())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var cycles []time.Duration
	measuring := false
	svc.ObserveCycles(func(_ string, d time.Duration) {
		mu.Lock()
		if measuring {
			cycles = append(cycles, d)
		}
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = svc.Run(ctx); close(done) }()
	time.Sleep(3 * time.Second) // discovery and connection set-up are not steady state
	mu.Lock()
	measuring = true
	mu.Unlock()
	cpu0, wall0, n0 := cpuTime(syscall.RUSAGE_SELF), time.Now(), rec.n()
	time.Sleep(time.Duration(secs) * time.Second)
	cpu, wall, n := cpuTime(syscall.RUSAGE_SELF)-cpu0, time.Since(wall0), rec.n()-n0
	mu.Lock()
	measuring = false
	got := append([]time.Duration(nil), cycles...)
	mu.Unlock()
	cancel()
	<-done
	stdin.Close()
	_ = child.Wait()
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	pct := func(p float64) time.Duration {
		if len(got) == 0 {
			return 0
		}
		return got[int(p*float64(len(got)-1))]
	}
	for _, d := range svc.Devices() {
		if d.State != "ok" {
			t.Errorf("%s is %s: %s", d.ID, d.State, d.LastError)
		}
	}
	share := 100 * cpu.Seconds() / wall.Seconds()
	fmt.Printf("BENCH modbus: %d devices, poll 1s, %s: edge CPU %.2f%% of one core, poll cycle p50 %s p99 %s (%d cycles), %.0f samples/s, simulator (child) CPU %.2f%%\n",
		benchDevices, wall.Round(time.Second), share, pct(0.5).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond),
		len(got), float64(n)/wall.Seconds(), 100*cpuTime(syscall.RUSAGE_CHILDREN).Seconds()/(wall.Seconds()+3))
	if share > 5 {
		t.Errorf("edge CPU %.2f%% of one core, target <= 5%%", share)
	}
}

type countingSink struct {
	mu    sync.Mutex
	count int
}

func (c *countingSink) Append(_ context.Context, s ...sample.Sample) error {
	c.mu.Lock()
	c.count += len(s)
	c.mu.Unlock()
	return nil
}

func (c *countingSink) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}
