package mqtt

import paho "github.com/eclipse/paho.mqtt.golang"

type (
	paho_Client         = paho.Client
	paho_Message        = paho.Message
	paho_SubscribeToken = paho.SubscribeToken
)
