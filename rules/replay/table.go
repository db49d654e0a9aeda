package replay

import (
	"fmt"
	"io"
)

// WriteTable writes KPIs as the Markdown table of docs/energy-rules.md.
func WriteTable(w io.Writer, ks []KPI) {
	fmt.Fprintln(w, "| day | strategy | s above available | of which beyond reaction window | worst overshoot kW | van kWh short | PV self-consumption % | EV energy from PV % | cost € | charging starts |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, k := range ks {
		fmt.Fprintf(w, "| %s | %s | %d | %d | %.1f | %.1f | %.2f | %.1f | %.2f | %d |\n",
			k.Day, k.Strategy, k.SecondsAbove, k.SecondsAboveBeyond, k.WorstOvershootKW, k.VanShortKWh,
			k.PVSelfPct, k.EVFromPVPct, k.CostEUR, k.Starts)
	}
}
