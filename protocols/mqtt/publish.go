package mqtt

import (
	"context"
	"fmt"
)

// Publish sends a command to a device on the office broker (a Tasmota or
// Zigbee2MQTT plug switched by a user rule). QoS 1, not retained: a command
// is an instant, not a state to replay to the next subscriber.
func (s *Service) Publish(ctx context.Context, topic string, payload []byte) error {
	if topic == "" {
		return fmt.Errorf("mqtt publish: empty topic")
	}
	if err := s.tp().publish(ctx, topic, payload); err != nil {
		return fmt.Errorf("mqtt publish %s: %w", topic, err)
	}
	return nil
}
