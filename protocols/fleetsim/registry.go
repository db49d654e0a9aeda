package fleetsim

import (
	"fmt"
	"io"
)

// regions spread the simulated offices over real regions and provinces, so the
// dashboard's filters and the per-region counts have something to show.
var regions = []struct{ region, province, istat string }{
	{"Basilicata", "PZ", "076"}, {"Toscana", "SI", "052"}, {"Piemonte", "CN", "004"},
	{"Sardegna", "NU", "091"}, {"Calabria", "CS", "078"}, {"Abruzzo", "AQ", "066"},
	{"Marche", "PU", "041"}, {"Sicilia", "EN", "086"},
}

// WriteRegistry writes the fleet's offices_file for the simulated offices:
// one entry per office with its credentials and where it is.
func WriteRegistry(w io.Writer, cfg Config) error {
	cfg.defaults()
	for i := range cfg.Offices {
		id := cfg.OfficeID(i)
		t := registryTags(i, id)
		if _, err := fmt.Fprintf(w, "- {id: %q, password: %q, name: \"Polis %s\", comune: %q, istat: %q, province: %s, region: %s}\n",
			id, cfg.Password(id), id, t["comune"], t["istat"], t["province"], t["region"]); err != nil {
			return err
		}
	}
	return nil
}

// registryTags are the tags the fleet adds to office i's lines from the
// registry WriteRegistry writes.
func registryTags(i int, id string) map[string]string {
	r := regions[i%len(regions)]
	return map[string]string{"comune": "Comune " + id, "istat": fmt.Sprintf("%s%03d", r.istat, i%1000), "province": r.province, "region": r.region}
}
