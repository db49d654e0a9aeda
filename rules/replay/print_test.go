package replay

import (
	"fmt"
	"os"
	"testing"
)

func TestPrintTable(t *testing.T) {
	if os.Getenv("REPLAY_TABLE") == "" {
		return
	}
	var all []KPI
	for _, d := range RefDays() {
		ks, err := Compare(RefOffice, d)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ks...)
	}
	WriteTable(os.Stdout, all)
}

// TestPrintCloudyScan prints the three strategies on summer workdays with
// heavier clouds than the reference days (docs/energy-rules.md, "Beyond the
// reference days").
func TestPrintCloudyScan(t *testing.T) {
	if os.Getenv("REPLAY_SCAN") == "" {
		return
	}
	summer := RefDays()[0].Start
	var all []KPI
	for _, clouds := range []float64{0.3, 0.5, 0.7, 0.9} {
		for seed := uint64(10); seed < 13; seed++ {
			d := workday(fmt.Sprintf("summer workday, clouds %.1f, seed %d", clouds, seed), summer, 0.85, 5.6, 20.8, clouds, seed)
			ks, err := Compare(RefOffice, d)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, ks...)
		}
	}
	WriteTable(os.Stdout, all)
}
