package fleet

import (
	"crypto/tls"
	"net/http"
	"net/http/cookiejar"
	"strings"
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
	pool := files.Pool(t)
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

// TestDashboardOverHTTPS: with http.tls set the fleet serves HTTPS itself,
// its session cookie is Secure, HttpOnly and SameSite=Strict, the session
// works over TLS, and plain HTTP on the port gets no API answer.
func TestDashboardOverHTTPS(t *testing.T) {
	t.Parallel()
	in := testserver.Influx(t)
	cfg := testConfig(in)
	files := testserver.ServerTLS(t)
	cfg.HTTP.TLS.Cert, cfg.HTTP.TLS.Key = files.Cert, files.Key
	pool := files.Pool(t)
	f := startFleet(t, cfg)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: deadline, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + f.Addrs().HTTP
	resp, err := client.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"user":"test-admin","password":"test-admin-password"}`))
	if err != nil {
		t.Fatalf("sign in over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 {
		t.Fatalf("sign in: %s, cookies %v", resp.Status, resp.Cookies())
	}
	if c := resp.Cookies()[0]; !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want Secure, HttpOnly, SameSite=Strict", c)
	}
	resp, err = client.Get(base + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("session over HTTPS: %s", resp.Status)
	}
	plain, err := http.Get("http://" + f.Addrs().HTTP + "/api/v1/me")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the HTTPS port answered %s", plain.Status)
		}
	}
}
