// Package sunspec knows the SunSpec information models: where each point sits
// in a model, how to decode it (scale factors, "not implemented" sentinels) and
// how to find the models on a device (discovery of the "SunS" chain).
//
// The layouts come from the SunSpec Alliance JSON definitions embedded under
// models/, so offsets are never typed by hand.
package sunspec

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
)

//go:embed models/*.json
var modelFS embed.FS

// Point is one register-backed value of a model.
type Point struct {
	Name    string
	Type    string // int16, uint16, acc32, float32, sunssf, enum16, bitfield32, string, ...
	Size    int    // registers
	Offset  int    // registers from the model's ID register
	SF      string // name of the scale-factor point, or ""
	Units   string
	Access  string            // "RW" when writable
	Symbols map[uint32]string // enum values / bit numbers to names
}

// Group is a block of points; a model has one fixed top-level group and may
// end with repeating groups (model 160 modules) whose count is given by a
// point (N) or by the model length.
type Group struct {
	Name     string
	Points   []Point // offsets relative to the group's start
	Size     int     // registers
	CountRef string  // point holding the repeat count; "" and Repeat false = exactly once
	Repeat   bool
}

// Model is the layout of one SunSpec model.
type Model struct {
	ID     int
	Name   string
	Fixed  []Point // top-level points incl. ID and L, offsets from the ID register
	Groups []Group // after Fixed, in order
	byName map[string]Point
}

// FixedLen is the length in registers of the fixed part, ID and L included.
func (m *Model) FixedLen() int {
	n := 0
	for _, p := range m.Fixed {
		n += p.Size
	}
	return n
}

// Point returns the fixed point called name.
func (m *Model) Point(name string) (Point, bool) {
	p, ok := m.byName[name]
	return p, ok
}

type jsonPoint struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Size    int    `json:"size"`
	SF      string `json:"sf"`
	Units   string `json:"units"`
	Access  string `json:"access"`
	Symbols []struct {
		Name  string `json:"name"`
		Value uint32 `json:"value"`
	} `json:"symbols"`
}

type jsonGroup struct {
	Name   string      `json:"name"`
	Count  any         `json:"count"`
	Points []jsonPoint `json:"points"`
	Groups []jsonGroup `json:"groups"`
}

var models = map[int]*Model{}

func init() {
	entries, err := modelFS.ReadDir("models")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		if e.Name()[0] == 'R' { // README
			continue
		}
		m, err := parseModel(e.Name())
		if err != nil {
			panic(fmt.Sprintf("sunspec: embedded %s: %v", e.Name(), err))
		}
		models[m.ID] = m
	}
}

func parseModel(file string) (*Model, error) {
	raw, err := modelFS.ReadFile("models/" + file)
	if err != nil {
		return nil, err
	}
	var doc struct {
		ID    int       `json:"id"`
		Group jsonGroup `json:"group"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	m := &Model{ID: doc.ID, Name: doc.Group.Name, byName: map[string]Point{}}
	m.Fixed = layout(doc.Group.Points)
	for _, p := range m.Fixed {
		m.byName[p.Name] = p
	}
	for _, g := range doc.Group.Groups {
		if len(g.Groups) > 0 {
			return nil, fmt.Errorf("nested groups in %s are not supported", g.Name)
		}
		grp := Group{Name: g.Name, Points: layout(g.Points)}
		for _, p := range grp.Points {
			grp.Size += p.Size
		}
		switch c := g.Count.(type) {
		case string:
			grp.CountRef, grp.Repeat = c, true
		case float64:
			grp.Repeat = c == 0 // 0: as many as the model length holds
		}
		m.Groups = append(m.Groups, grp)
	}
	return m, nil
}

func layout(jp []jsonPoint) []Point {
	out := make([]Point, 0, len(jp))
	off := 0
	for _, p := range jp {
		pt := Point{Name: p.Name, Type: p.Type, Size: p.Size, Offset: off, SF: p.SF, Units: p.Units, Access: p.Access}
		if len(p.Symbols) > 0 {
			pt.Symbols = make(map[uint32]string, len(p.Symbols))
			for _, s := range p.Symbols {
				pt.Symbols[s.Value] = s.Name
			}
		}
		out = append(out, pt)
		off += p.Size
	}
	return out
}

// Lookup returns the embedded definition of model id.
func Lookup(id int) (*Model, bool) {
	m, ok := models[id]
	return m, ok
}

// Known lists the ids of all embedded models.
func Known() []int {
	ids := make([]int, 0, len(models))
	for id := range models {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}
