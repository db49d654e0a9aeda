package config

// Drivers holds the device sections (modbus, ocpp, mqtt). Each protocol
// package owns its own config type and validation; this file only wires them.
type Drivers struct{}

func (d Drivers) validate() []string { return nil }
