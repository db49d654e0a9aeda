package rules

import (
	"time"

	"github.com/polis-edge/polis/rules/tariff"
)

// BandAt is the ARERA band at t.
func BandAt(t time.Time) tariff.Band { return tariff.At(t) }
