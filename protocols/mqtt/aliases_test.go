package mqtt

import (
	neturl "net/url"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/protocols/mqtt/mqttsim"
)

func newSimBank(url string) *mqttsim.Bank {
	return mqttsim.NewBank(mqttsim.BankConfig{ID: "bank1", Password: "bank-pass", Compartments: 6}, url, 2)
}

type (
	paho_Client         = paho.Client
	paho_Message        = paho.Message
	paho_SubscribeToken = paho.SubscribeToken
)

type url_URL = neturl.URL
