// Package pahotoken waits for paho MQTT tokens the way every client of the
// fleet broker needs: bounded by a context, and counting a refused
// subscription (SUBACK 0x80, which paho reports as success) as a failure.
package pahotoken

import (
	"context"
	"fmt"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Wait returns when t completes or ctx ends, with t's error, or an error
// naming a topic whose subscription the broker refused.
func Wait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := t.Error(); err != nil {
		return err
	}
	if st, ok := t.(*paho.SubscribeToken); ok {
		for topic, code := range st.Result() {
			if code >= 0x80 {
				return fmt.Errorf("subscription to %s refused (0x%x)", topic, code)
			}
		}
	}
	return nil
}
