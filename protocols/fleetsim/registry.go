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
		r := regions[i%len(regions)]
		if _, err := fmt.Fprintf(w, "- {id: %q, password: %q, name: \"Polis %s\", comune: \"Comune %s\", istat: \"%s%03d\", province: %s, region: %s}\n",
			id, cfg.Password(id), id, id, r.istat, i%1000, r.province, r.region); err != nil {
			return err
		}
	}
	return nil
}
