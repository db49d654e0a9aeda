package modbus

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/polis-edge/polis/protocols/modbus/sunspec"
	"github.com/polis-edge/polis/protocols/modbus/templates"
)

// ProbeOptions select what Probe reads.
type ProbeOptions struct {
	URL      string
	Unit     int
	Template string // "" = SunSpec discovery
	Timeout  time.Duration
	Baud     uint
}

// ProbePoint is one decoded value.
type ProbePoint struct {
	Group string `json:"group"` // "model 103", "model 160 module 1", or the template name
	Name  string `json:"name"`
	Value any    `json:"value"`
	Unit  string `json:"unit,omitempty"`
}

// ProbeResult is what a device reported.
type ProbeResult struct {
	URL     string       `json:"url"`
	Unit    int          `json:"unit"`
	Base    *uint16      `json:"sunspec_base,omitempty"`
	Models  []int        `json:"models,omitempty"`
	Skipped []string     `json:"skipped,omitempty"` // models present but not decoded
	Points  []ProbePoint `json:"points"`
}

// Probe connects once and decodes everything the device offers: every known
// SunSpec model, or every point of a template.
func Probe(ctx context.Context, o ProbeOptions) (*ProbeResult, error) {
	cfg := Config{Buses: []BusConfig{{ID: "probe", URL: o.URL, Baud: o.Baud, Timeout: o.Timeout}},
		Devices: []DeviceConfig{{ID: "probe", Bus: "probe", Unit: o.Unit, Kind: KindMeter, SunSpec: o.Template == "", Template: o.Template}}}
	if o.Template != "" {
		if t, err := templates.Load(o.Template); err == nil {
			cfg.Devices[0].Kind = t.Kind
		}
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := newBus(cfg.Buses[0], slog.New(slog.DiscardHandler))
	go b.run(ctx)
	u := unit{bus: b, id: uint8(o.Unit)}
	res := &ProbeResult{URL: o.URL, Unit: o.Unit}
	if o.Template != "" {
		return res, probeTemplate(ctx, u, o.Template, cfg.Devices[0].MaxRegisters, res)
	}
	return res, probeSunSpec(ctx, u, cfg.Devices[0].MaxRegisters, res)
}

func probeTemplate(ctx context.Context, u unit, name string, maxRegs int, res *ProbeResult) error {
	tpl, err := templates.Load(name)
	if err != nil {
		return err
	}
	td := &templateDevice{tpl: tpl}
	imgs, _, err := readPlan(ctx, u, td.plan(), maxRegs)
	if err != nil {
		return fmt.Errorf("read %s registers: %w", name, err)
	}
	for _, p := range tpl.Points {
		v, ok := p.Decode(p.Register, lookup(imgs, p.Function, int(p.Register), p.Size()))
		var val any = v
		if !ok {
			val = nil
		}
		res.Points = append(res.Points, ProbePoint{Group: name, Name: p.Field, Value: val, Unit: p.Unit})
	}
	return nil
}

func probeSunSpec(ctx context.Context, u unit, maxRegs int, res *ProbeResult) error {
	m, err := sunspec.Discover(ctx, u)
	if err != nil {
		return err
	}
	res.Base, res.Models = &m.Base, ids(m)
	for _, r := range m.Models {
		def, ok := sunspec.Lookup(r.ID)
		if !ok {
			res.Skipped = append(res.Skipped, fmt.Sprintf("model %d (%d registers at %d): no definition", r.ID, r.Len, r.Addr))
			continue
		}
		imgs, _, err := readPlan(ctx, u, []span{{FC: 3, Start: int(r.Addr), End: r.End()}}, maxRegs)
		if err != nil {
			return fmt.Errorf("read model %d: %w", r.ID, err)
		}
		b, err := sunspec.Decode(def, imgs[0].regs)
		if err != nil {
			res.Skipped = append(res.Skipped, err.Error())
			continue
		}
		group := "model " + strconv.Itoa(r.ID)
		res.Points = append(res.Points, probeValues(group, def.Fixed, b.Values)...)
		for _, g := range def.Groups {
			if !g.Repeat {
				continue
			}
			for i, v := range b.Repeats {
				res.Points = append(res.Points, probeValues(fmt.Sprintf("%s %s %d", group, g.Name, i+1), g.Points, v)...)
			}
		}
	}
	return nil
}

func probeValues(group string, points []sunspec.Point, v sunspec.Values) []ProbePoint {
	var out []ProbePoint
	for _, p := range points {
		if p.Name == "ID" || p.Name == "L" || p.Type == "sunssf" || p.Type == "pad" {
			continue
		}
		pp := ProbePoint{Group: group, Name: p.Name, Unit: p.Units}
		if x, ok := v.Num[p.Name]; ok {
			pp.Value = x
			if s, ok := p.Symbols[uint32(x)]; ok && strings.HasPrefix(p.Type, "enum") {
				pp.Value = fmt.Sprintf("%s (%v)", s, x)
			}
		} else if s, ok := v.Text[p.Name]; ok {
			pp.Value = s
		}
		out = append(out, pp)
	}
	return out
}

// WriteTable prints one line per point; absent points read "not implemented".
func (r *ProbeResult) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if r.Base != nil {
		fmt.Fprintf(tw, "SunSpec at %d, models %v\n", *r.Base, r.Models)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(tw, "skipped: %s\n", s)
	}
	fmt.Fprintln(tw, "GROUP\tPOINT\tVALUE\tUNIT")
	for _, p := range r.Points {
		val := "not implemented"
		switch x := p.Value.(type) {
		case float64:
			val = strconv.FormatFloat(x, 'f', -1, 64)
		case string:
			val = x
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Group, p.Name, val, p.Unit)
	}
	tw.Flush()
}

// RunProbe implements `polis-edge probe modbus <url> [--unit N] [--template NAME] [--json]`;
// args start after "probe". It returns the process exit code.
func RunProbe(args []string, stdout, stderr io.Writer) int {
	usage := "usage: polis-edge probe modbus <tcp://host:port|rtu:///dev/ttyX|rtuovertcp://host:port> [--unit N] [--template NAME] [--json] [--timeout 2s] [--baud 9600]"
	if len(args) == 0 || args[0] != "modbus" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("probe modbus", flag.ContinueOnError)
	fs.SetOutput(stderr)
	unitID := fs.Int("unit", 1, "Modbus unit id")
	tpl := fs.String("template", "", "register-map template ("+strings.Join(templates.Names(), ", ")+" or a YAML file); default: SunSpec discovery")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	timeout := fs.Duration("timeout", 2*time.Second, "per-request timeout")
	baud := fs.Uint("baud", 0, "serial speed (rtu only)")
	rest := args[1:]
	var url string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		url, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if url == "" && fs.NArg() > 0 {
		url = fs.Arg(0)
	}
	if url == "" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+20**timeout)
	defer cancel()
	res, err := Probe(ctx, ProbeOptions{URL: url, Unit: *unitID, Template: *tpl, Timeout: *timeout, Baud: *baud})
	if err != nil {
		msg := err.Error()
		if errors.Is(err, sunspec.ErrNoSunS) {
			msg += " (not a SunSpec device? try --template " + strings.Join(templates.Names(), "|") + ")"
		}
		fmt.Fprintf(stderr, "probe %s unit %d: %s\n", url, *unitID, msg)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	res.WriteTable(stdout)
	return 0
}
