package ocpp

import "time"

// ConnectorState is one connector (1.6) or EVSE (2.0.1) as the rules see it
// in their process image. Values are the last ones the charger reported.
type ConnectorState struct {
	ChargerID string    `json:"charger_id"`
	Connector int       `json:"connector"`
	Version   string    `json:"version"` // ocpp1.6 or ocpp2.0.1
	Online    bool      `json:"online"`
	Status    string    `json:"status"` // Available, Preparing, Charging, SuspendedEV, ... (1.6 names; 2.0.1 mapped)
	ErrorCode string    `json:"error_code,omitempty"`
	StatusAt  time.Time `json:"status_at"`

	PowerW   float64    `json:"power_w"`
	EnergyWh float64    `json:"energy_wh"` // the connector's energy register
	CurrentA [3]float64 `json:"current_a"`
	VoltageV [3]float64 `json:"voltage_v"`
	OfferedA float64    `json:"offered_a"` // what the charger says it offers the car
	SoCPct   float64    `json:"soc_pct"`   // -1 when not reported
	MeterAt  time.Time  `json:"meter_at"`

	Requested *LimitState `json:"requested,omitempty"` // what we last asked for
	Session   *Session    `json:"session,omitempty"`
}

// LimitState is the last limit sent to a connector and what became of it.
type LimitState struct {
	Limit  Limit       `json:"limit"`
	Status LimitStatus `json:"status"`
	At     time.Time   `json:"at"`
}

// Session is one charging transaction.
type Session struct {
	ChargerID     string    `json:"charger_id"`
	Connector     int       `json:"connector"`
	TransactionID string    `json:"transaction_id"`
	IdTag         string    `json:"id_tag"`
	Group         string    `json:"group"`
	Departure     string    `json:"departure,omitempty"` // HH:MM, fleet vans
	Start         time.Time `json:"start"`
	MeterStartWh  float64   `json:"meter_start_wh"`
	// MeterStartPending: the start carried no register (allowed in 2.0.1);
	// the first register seen in the transaction becomes MeterStartWh.
	MeterStartPending bool      `json:"meter_start_pending,omitempty"`
	LastMeterWh       float64   `json:"last_meter_wh"`
	Stop              time.Time `json:"stop,omitzero"`
	MeterStopWh       float64   `json:"meter_stop_wh,omitempty"`
	StopReason        string    `json:"stop_reason,omitempty"`
	Open              bool      `json:"open"`
	// EV charging needs (2.0.1 NotifyEVChargingNeeds, K15), for the van rules.
	EVDeparture  time.Time `json:"ev_departure,omitzero"`
	EnergyNeedWh float64   `json:"energy_need_wh,omitempty"`
	// SeqNext is the next 2.0.1 TransactionEvent seqNo expected.
	SeqNext int `json:"seq_next,omitempty"`
}

// EnergyWh is the energy delivered so far (or in total once stopped).
func (s *Session) EnergyWh() float64 {
	end := s.LastMeterWh
	if !s.Open {
		end = s.MeterStopWh
	}
	if e := end - s.MeterStartWh; e > 0 {
		return e
	}
	return 0
}

func (s *Session) key() string { return sessionKey(s.ChargerID, s.TransactionID) }

func sessionKey(charger, tx string) string { return charger + "/" + tx }
