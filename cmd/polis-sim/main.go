// Command polis-sim runs one simulated post office against a polis-edge:
// a SunSpec inverter and meter over Modbus TCP (servers), MQTT sensors and a
// locker bank, and OCPP charge points (clients of the edge).
//
//	polis-sim [-office 47011] [-edge-config edge.yaml] [flags]
//
//	polis-sim fleet -offices 7000 [-broker tcp://…] [-registry offices.yaml]
//
//	polis-sim replay [-day Sunday]   (energy rules on reference days, docs/energy-rules.md)
//
// With -edge-config it first writes the polis-edge config that matches the
// simulated devices, so `polis-edge -config edge.yaml` can be started beside it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/polis-edge/polis/protocols/simoffice"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fleet" {
		os.Exit(runFleet(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "replay" {
		os.Exit(runReplay(os.Args[2:]))
	}
	office := flag.String("office", "47011", "office id")
	name := flag.String("name", "Polis simulated office", "office name")
	lat := flag.Float64("lat", 43.84, "latitude, for the PV curve")
	lon := flag.Float64("lon", 12.37, "longitude, for the PV curve")
	inverter := flag.String("inverter", "127.0.0.1:15020", "Modbus TCP address of the simulated inverter")
	meter := flag.String("meter", "127.0.0.1:15021", "Modbus TCP address of the simulated meter")
	mqttURL := flag.String("mqtt", "tcp://127.0.0.1:11883", "the edge's office broker, for sensors and lockers (empty: none)")
	ocppURL := flag.String("ocpp", "ws://127.0.0.1:18887/ocpp", "the edge's OCPP endpoint, for chargers (empty: none)")
	fleet := flag.String("fleet", "127.0.0.1:1883", "fleet broker, written into the edge config")
	edgeConfig := flag.String("edge-config", "", "write the matching polis-edge config to this file first")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sim, err := simoffice.Start(ctx, simoffice.Config{ID: *office, Name: *name, Lat: *lat, Lon: *lon, InverterAddr: *inverter, MeterAddr: *meter})
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	if *edgeConfig != "" {
		yaml := sim.EdgeYAML(*fleet, "demo-"+*office, hostPort(*mqttURL), hostPort(*ocppURL))
		if err := os.WriteFile(*edgeConfig, []byte(yaml), 0o600); err != nil {
			log.Error("write edge config", "err", err)
			os.Exit(1)
		}
		fmt.Printf("wrote %s: start `polis-edge -config %s`\n", *edgeConfig, *edgeConfig)
	}
	fmt.Printf("office %s: inverter modbus tcp://%s, meter modbus tcp://%s; sensors → %s; chargers → %s\n",
		*office, *inverter, *meter, *mqttURL, *ocppURL)
	var wg sync.WaitGroup
	if *mqttURL != "" {
		wg.Add(1)
		go func() { defer wg.Done(); sim.RunSensors(ctx, *mqttURL, log) }()
	}
	if *ocppURL != "" {
		wg.Add(1)
		go func() { defer wg.Done(); sim.RunChargers(ctx, *ocppURL, log) }()
	}
	<-ctx.Done()
	wg.Wait()
}

// hostPort strips scheme and path: tcp://h:p and ws://h:p/ocpp → h:p.
func hostPort(url string) string {
	for i := 0; i+2 < len(url); i++ {
		if url[i:i+3] == "://" {
			url = url[i+3:]
			break
		}
	}
	for i := 0; i < len(url); i++ {
		if url[i] == '/' {
			return url[:i]
		}
	}
	return url
}
