package config

import (
	"reflect"
	"strings"
)

// Diff names the top-level sections that differ between a and b, except log,
// rules and aggregate, which SIGHUP applies at run time. The daemon reports these as needing a
// restart rather than half-applying them.
func Diff(a, b Config) []string {
	var out []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "log" || name == "rules" || name == "aggregate" { // applied at run time
			continue
		}
		if f.Anonymous { // inline driver sections
			out = append(out, diffInline(va.Field(i), vb.Field(i))...)
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	return out
}

func diffInline(a, b reflect.Value) []string {
	var out []string
	for i := 0; i < a.NumField(); i++ {
		name, _, _ := strings.Cut(a.Type().Field(i).Tag.Get("yaml"), ",")
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	return out
}
