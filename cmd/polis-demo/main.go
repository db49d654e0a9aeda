// Command polis-demo is what `make demo` runs: a real InfluxDB, polis-fleet
// with its embedded broker, a few offices running polis-edge, and simulators
// for their devices, all with embedded defaults. It prints where to look and
// stops everything cleanly on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/polis-edge/polis/edge"
	edgeconfig "github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/fleet"
	fleetconfig "github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/simoffice"
	"github.com/polis-edge/polis/protocols/testserver"
)

var version = "dev"

// demoOffices are real comuni of the Polis programme's kind: small, inland.
var demoOffices = []fleetconfig.Office{
	{ID: "47011", Name: "Polis Montecopiolo", Comune: "Montecopiolo", ISTAT: "099030", Province: "RN", Region: "Emilia-Romagna"},
	{ID: "12054", Name: "Polis Ostana", Comune: "Ostana", ISTAT: "004157", Province: "CN", Region: "Piemonte"},
	{ID: "85020", Name: "Polis Castelmezzano", Comune: "Castelmezzano", ISTAT: "076025", Province: "PZ", Region: "Basilicata"},
}

func main() {
	dir := flag.String("dir", ".demo", "working directory for InfluxDB data, buffers and logs (wiped at start)")
	httpAddr := flag.String("http", "127.0.0.1:8080", "dashboard address (a free port is used if taken)")
	mqttAddr := flag.String("mqtt", "127.0.0.1:1883", "fleet broker address (a free port is used if taken)")
	offices := flag.Int("offices", len(demoOffices), "how many offices to run (1-3)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(*dir, *httpAddr, *mqttAddr, min(max(*offices, 1), len(demoOffices)), log); err != nil {
		log.Error("demo failed", "err", err)
		os.Exit(1)
	}
}

func run(dir, httpAddr, mqttAddr string, n int, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "influxd.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	log.Info("starting InfluxDB 1.8.10", "log", logFile.Name())
	influxDir := filepath.Join(dir, "influxdb")
	if err := os.MkdirAll(influxDir, 0o750); err != nil {
		return err
	}
	in, err := testserver.StartInflux(influxDir, logFile)
	if err != nil {
		return fmt.Errorf("start InfluxDB (run `make tools` first): %w", err)
	}
	defer in.Stop()

	// Two stages, so offices say goodbye (status offline) while the fleet's
	// broker still listens.
	central, offices := newGroup(), newGroup()
	defer central.stop()
	defer offices.stop()

	f, err := newFleet(in, filepath.Join(dir, "fleet"), freeOr(httpAddr), freeOr(mqttAddr), n, log)
	if err != nil {
		return err
	}
	for _, u := range demoUsers {
		if err := f.Users().Add(u.name, u.password, u.role, u.scope); err != nil {
			return fmt.Errorf("demo user %s: %w", u.name, err)
		}
	}
	central.run(f.Run)
	var edges []*edge.Daemon
	for _, o := range demoOffices[:n] {
		d, err := startOffice(offices, dir, o, f.Addrs().MQTT, log)
		if err != nil {
			return err
		}
		edges = append(edges, d)
	}
	time.Sleep(500 * time.Millisecond)
	printBanner(f.Addrs(), in, edges)
	<-ctx.Done()
	log.Info("stopping the demo")
	return nil
}

// freeOr returns addr if it can be bound, else a free port on the same host,
// so a second demo or a busy 8080 does not stop the first run.
func freeOr(addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		return addr
	}
	host, _, _ := net.SplitHostPort(addr)
	return net.JoinHostPort(host, "0")
}

// demoUsers are printed in the banner: the demo is local and throwaway.
var demoUsers = []struct {
	name, password string
	role           users.Role
	scope          users.Scope
}{
	{"demo", "polis-demo-admin", users.Admin, users.Scope{}},
	{"basilicata", "polis-demo-operator", users.Operator, users.Scope{Region: "Basilicata"}},
	{"guest", "polis-demo-viewer", users.Viewer, users.Scope{}},
}

func newFleet(in *testserver.InfluxDB, dataDir, httpAddr, mqttAddr string, n int, log *slog.Logger) (*fleet.Fleet, error) {
	cfg := fleetconfig.Default()
	cfg.DataDir = dataDir
	cfg.HTTP.Listen = httpAddr
	cfg.Broker.Embedded.TCP = mqttAddr
	cfg.Influx.URL, cfg.Influx.Token, cfg.Influx.Bucket = in.URL, in.Token, in.Bucket
	for _, o := range demoOffices[:n] {
		o.Password = "demo-" + o.ID
		cfg.Offices = append(cfg.Offices, o)
	}
	return fleet.New(cfg, log.With("program", "polis-fleet"))
}

// startOffice starts one office's simulated devices and its edge, with the
// edge.yaml an installer would have written in the office's directory.
func startOffice(g *group, dir string, o fleetconfig.Office, fleetMQTT string, log *slog.Logger) (*edge.Daemon, error) {
	s := sites[o.ID]
	sim, err := simoffice.Start(g.ctx, simoffice.Config{ID: o.ID, Name: o.Name, Lat: s.lat, Lon: s.lon})
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "office-"+o.ID)
	if err := os.MkdirAll(data, 0o750); err != nil {
		return nil, err
	}
	path := filepath.Join(data, "edge.yaml")
	yaml := sim.EdgeYAML(fleetMQTT, "demo-"+o.ID, "127.0.0.1:0", "127.0.0.1:0")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	cfg, err := edgeconfig.Load(path)
	if err != nil {
		return nil, err
	}
	d, err := edge.New(cfg, log.With("program", "polis-edge", "office", o.ID), version)
	if err != nil {
		return nil, err
	}
	g.run(d.Run)
	g.run(func(ctx context.Context) error {
		for d.MQTT().Addr() == nil { // the office broker binds when the edge runs
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
		}
		return sim.RunSensors(ctx, "tcp://"+d.MQTT().Addr().String(), log)
	})
	g.run(func(ctx context.Context) error {
		return sim.RunChargers(ctx, "ws://"+d.OCPP().Addr().String()+"/ocpp", log)
	})
	return d, nil
}

// site is where a demo office is, for its PV curve.
type site struct{ lat, lon float64 }

var sites = map[string]site{
	"47011": {43.84, 12.37}, // Montecopiolo
	"12054": {44.69, 7.18},  // Ostana
	"85020": {40.54, 16.04}, // Castelmezzano
}

func printBanner(a fleet.Addrs, in *testserver.InfluxDB, edges []*edge.Daemon) {
	fmt.Printf(`
================ Polis Edge demo ================
Dashboard (facility managers):  http://%s/
  sign in as demo / polis-demo-admin (admin), basilicata / polis-demo-operator
  (operator, Basilicata only) or guest / polis-demo-viewer (viewer)
Fleet API:                      http://%s/api/v1/offices
Fleet broker (MQTT):            tcp://%s
InfluxDB 1.8 (analysts):        %s   database "polis"
  e.g. curl -G %s/query --data-urlencode db=polis \
         --data-urlencode "q=SELECT last(*) FROM polis_edge GROUP BY office"
`, a.HTTP, a.HTTP, a.MQTT, in.URL, in.URL)
	for _, d := range edges {
		fmt.Printf("Office edge status:             http://%s/api/v1/status\n", d.HTTPAddr())
	}
	fmt.Print("Ctrl-C stops everything.\n=================================================\n\n")
}

// group runs services until stop cancels them and waits for all to return.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newGroup() *group {
	ctx, cancel := context.WithCancel(context.Background())
	return &group{ctx: ctx, cancel: cancel}
}

func (g *group) run(f func(context.Context) error) {
	g.wg.Add(1)
	go func() { defer g.wg.Done(); f(g.ctx) }()
}

func (g *group) stop() {
	g.cancel()
	g.wg.Wait()
}
