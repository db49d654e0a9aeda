package testserver

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func connect(url, user, pass string) error {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("probe-" + user).
		SetUsername(user).SetPassword(pass).SetConnectTimeout(5 * time.Second))
	tok := c.Connect()
	tok.WaitTimeout(10 * time.Second)
	if tok.Error() == nil {
		c.Disconnect(10)
	}
	return tok.Error()
}

func TestMosquittoWithPasswords(t *testing.T) {
	srv := Mosquitto(t, WithUsers(map[string]string{"edge": "s3cret"}))
	if err := connect(srv.URL, "edge", "s3cret"); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if err := connect(srv.URL, "edge", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
}

func TestMosquittoAnonymous(t *testing.T) {
	srv := Mosquitto(t)
	if err := connect(srv.URL, "", ""); err != nil {
		t.Fatalf("anonymous refused: %v", err)
	}
}
