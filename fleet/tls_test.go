package fleet

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

func TestOfficeOverTLS(t *testing.T) {
	t.Parallel()
	in := testserver.Influx(t)
	cfg := testConfig(in)
	cfg.Broker.Embedded.TCP = "" // TLS only
	cfg.Broker.Embedded.TLS.Listen = "127.0.0.1:0"
	files := testserver.ServerTLS(t)
	cfg.Broker.Embedded.TLS.Cert, cfg.Broker.Embedded.TLS.Key = files.Cert, files.Key
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	f := startFleet(t, cfg)
	if f.Addrs().MQTT != "" || f.Addrs().MQTTTLS == "" {
		t.Fatalf("addrs %+v", f.Addrs())
	}
	acks := make(chan uplink.Ack, 10)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + f.Addrs().MQTTTLS).SetClientID("edge-10001").
		SetUsername("10001").SetPassword("secret-a").SetTLSConfig(&tls.Config{RootCAs: pool}))
	if tok := c.Connect(); !tok.WaitTimeout(deadline) || tok.Error() != nil {
		t.Fatalf("TLS connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe(uplink.Topic("10001", uplink.KindAck), 1, func(_ paho.Client, m paho.Message) {
		a, _ := uplink.DecodeAck(m.Payload())
		acks <- a
	}).WaitTimeout(deadline)
	payload, _ := uplink.EncodeBatch(batch(t, "10001", 1, 5))
	c.Publish(uplink.Topic("10001", uplink.KindTelemetry), 1, false, payload).WaitTimeout(deadline)
	if a := waitChan(t, acks); a.Status != uplink.AckOK || a.Accepted != 5 {
		t.Fatalf("ack over TLS: %+v", a)
	}
}
