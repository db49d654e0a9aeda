// Package broker hides where the fleet's MQTT traffic comes from: the embedded
// mochi broker (default, one process) or an external broker shared by several
// fleet instances. The rest of the fleet only publishes and subscribes.
package broker

// Handler receives one message. It runs on the broker's delivery goroutine:
// blocking in it back-pressures the sender, so it must only hand work off.
type Handler func(topic string, payload []byte)

// WorkHandler receives one message of a shared subscription; it calls done
// once the message is fully handled (the office's ack published). Until then
// a broker that can redeliver (NATS JetStream) keeps the message, so a fleet
// instance that dies mid-batch leaves it to another instance.
type WorkHandler func(topic string, payload []byte, done func())

// Bus is what the fleet needs from MQTT.
type Bus interface {
	// Publish sends a message; qos 0 or 1.
	Publish(topic string, payload []byte, qos byte, retain bool) error
	// Subscribe delivers every message matching filter to h.
	Subscribe(filter string, h Handler) error
	// SubscribeShared is Subscribe, but fleet instances subscribing with the
	// same group split the messages between them (MQTT 5 $share). With the
	// embedded broker there is one instance, so it is plain Subscribe.
	SubscribeShared(filter string, h WorkHandler) error
	// Ready reports whether messages can flow now.
	Ready() error
	Close() error
}
