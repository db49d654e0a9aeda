// Package mqttsim simulates an office's MQTT devices against a real broker:
// environmental sensors in Zigbee2MQTT, Tasmota and custom JSON shapes, and
// parcel-locker banks speaking the locker protocol.
package mqttsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Config is one simulated office.
type Config struct {
	URL      string         `yaml:"url"` // tcp://host:1883
	Interval time.Duration  `yaml:"interval"`
	Seed     uint64         `yaml:"seed"`
	Sensors  []SensorConfig `yaml:"sensors"`
	Banks    []BankConfig   `yaml:"banks"`
}

// Run connects every device with paho and simulates until ctx is done. A
// device that cannot connect is retried by paho; Run fails only on a bad
// config.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.URL == "" {
		return errors.New("mqttsim: url required")
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Interval == 0 {
		cfg.Interval = 30 * time.Second
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(cfg.Sensors)+len(cfg.Banks))
	for i, sc := range cfg.Sensors {
		s, err := NewSensor(sc, cfg.URL, cfg.Interval, cfg.Seed+uint64(i))
		if err != nil {
			return fmt.Errorf("mqttsim.sensors[%d]: %w", i, err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs <- s.Run(ctx) }()
	}
	for i, bc := range cfg.Banks {
		b := NewBank(bc, cfg.URL, cfg.Seed+1000+uint64(i))
		wg.Add(1)
		go func() { defer wg.Done(); errs <- b.Run(ctx) }()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			log.Warn("simulated device stopped", "err", err)
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}
