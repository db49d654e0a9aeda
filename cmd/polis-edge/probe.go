package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/polis-edge/polis/protocols/modbus"
	"github.com/polis-edge/polis/protocols/mqtt"
	"github.com/polis-edge/polis/protocols/mqtt/mqttprobe"
	"github.com/polis-edge/polis/protocols/ocpp/ocppprobe"
)

// runProbe implements `polis-edge probe modbus|ocpp|mqtt ...`; args start
// after "probe". The logic lives in the protocol packages, tested there.
func runProbe(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "modbus":
		return modbus.RunProbe(args, stdout, stderr)
	case "ocpp":
		return probeOCPP(ctx, args[1:], stdout, stderr)
	case "mqtt":
		return probeMQTT(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "polis-edge probe: unknown protocol %q (want modbus, ocpp or mqtt)\n", args[0])
	return 2
}

func probeOCPP(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("polis-edge probe ocpp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "0.0.0.0:8887", "address the chargers are configured to reach (stop polis-edge first if it uses it)")
	path := fs.String("path", "/ocpp", "URL path before the charger id")
	cert := fs.String("tls-cert", "", "serve wss with this certificate (to see security profiles 2 and 3)")
	key := fs.String("tls-key", "", "key of -tls-cert")
	clientCA := fs.String("client-ca", "", "ask chargers for a client certificate signed by this CA (profile 3)")
	calls := fs.Int("calls", 0, "stop after this many calls from chargers (0: until Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o := ocppprobe.Options{Addr: *listen, Path: *path, Calls: *calls, Out: stdout}
	if *cert != "" {
		c, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			fmt.Fprintln(stderr, "polis-edge probe ocpp:", err)
			return 1
		}
		o.TLS = &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
		if *clientCA != "" {
			pem, err := os.ReadFile(*clientCA)
			if err != nil {
				fmt.Fprintln(stderr, "polis-edge probe ocpp:", err)
				return 1
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			o.TLS.ClientCAs, o.TLS.ClientAuth = pool, tls.VerifyClientCertIfGiven
		}
	}
	if err := ocppprobe.Run(ctx, o); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func probeMQTT(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("polis-edge probe mqtt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/polis/edge.yaml", "edge config that defines the device")
	id := fs.String("device", "", "id of the MQTT device (mqtt.devices[].id) to show")
	listen := fs.String("listen", "", "run a throw-away broker here (default: mqtt.listen; stop polis-edge first)")
	broker := fs.String("broker", "", "subscribe on this broker instead (site broker, external mode): tcp://host:1883")
	user := fs.String("user", "", "-broker login")
	password := fs.String("password", "", "-broker password")
	messages := fs.Int("messages", 0, "stop after this many messages (0: until Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := load(*path)
	if err != nil {
		fmt.Fprintln(stderr, "polis-edge probe mqtt:", err)
		return 1
	}
	if cfg.MQTT == nil {
		fmt.Fprintf(stderr, "polis-edge probe mqtt: %s has no mqtt section\n", *path)
		return 1
	}
	i := slices.IndexFunc(cfg.MQTT.Devices, func(d mqtt.Device) bool { return d.ID == *id })
	if i < 0 {
		fmt.Fprintf(stderr, "polis-edge probe mqtt: no device %q in %s (-device is required)\n", *id, *path)
		return 2
	}
	o := mqttprobe.Options{Device: cfg.MQTT.Devices[i], Listen: *listen, Broker: *broker, Username: *user, Password: *password,
		Messages: *messages, Out: stdout}
	if o.Listen == "" {
		o.Listen = cfg.MQTT.Listen
	}
	if o.Broker == "" && cfg.MQTT.Mode == "external" {
		o.Broker, o.Username, o.Password = cfg.MQTT.External.URL, cfg.MQTT.External.Username, cfg.MQTT.External.Password
	}
	if err := mqttprobe.Run(ctx, o); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
