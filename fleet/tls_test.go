package fleet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

// selfSigned writes a certificate for 127.0.0.1 and returns its paths and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "polis-fleet"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestOfficeOverTLS(t *testing.T) {
	t.Parallel()
	in := testserver.Influx(t)
	cfg := testConfig(in)
	cfg.Broker.Embedded.TCP = "" // TLS only
	cfg.Broker.Embedded.TLS.Listen = "127.0.0.1:0"
	certFile, keyFile, pool := selfSigned(t)
	cfg.Broker.Embedded.TLS.Cert, cfg.Broker.Embedded.TLS.Key = certFile, keyFile
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
