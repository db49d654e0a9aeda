package replay

import (
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
