package httpapi

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/uplink"
)

// BenchmarkOfficePage7000: one dashboard refresh's office page (a region
// filter, 50 per page) and the open alarms, with 7,000 offices and 700 open
// alarms, as a region-scoped operator over real HTTP.
func BenchmarkOfficePage7000(b *testing.B) {
	e := newEnv(b, Options{})
	regions := []string{"Lazio", "Basilicata", "Piemonte", "Sicilia", "Veneto", "Toscana", "Puglia"}
	list := make([]config.Office, 7000)
	for i := range list {
		list[i] = config.Office{ID: fmt.Sprintf("%05d", 10000+i), Name: "UP", Region: regions[i%len(regions)], Province: fmt.Sprintf("P%d", i%100)}
	}
	e.reg.SetOffices(list)
	now := time.Now()
	for i, o := range list {
		e.reg.RecordStatus(o.ID, uplink.Status{Office: o.ID, Online: i%10 != 0, Devices: map[string]string{"inv1": "ok", "CP01": "ok"}}, now)
		if i%10 == 0 {
			e.alarms.Raise(alarms.Condition{Place: alarms.Place{Office: o.ID, Region: o.Region, Province: o.Province}, Kind: "office_offline", Severity: alarms.Critical})
		}
	}
	auth := e.as("bas-operator")
	b.ResetTimer()
	for b.Loop() {
		if code, _ := e.do("GET", "/api/v1/offices?online=false&offset=0&limit=50", nil, auth); code != http.StatusOK {
			b.Fatal(code)
		}
		if code, _ := e.do("GET", "/api/v1/alarms?sort=severity", nil, auth); code != http.StatusOK {
			b.Fatal(code)
		}
	}
}
