package main

import (
	"slices"
	"testing"
)

func TestStackEnv(t *testing.T) {
	for _, c := range []struct {
		name   string
		in     []string
		want   []string
		reexec bool
	}{
		{"no GODEBUG", []string{"HOME=/x"}, []string{"HOME=/x", "GODEBUG=gcshrinkstackoff=1"}, true},
		{"other settings kept", []string{"GODEBUG=madvdontneed=0", "A=b"}, []string{"A=b", "GODEBUG=madvdontneed=0,gcshrinkstackoff=1"}, true},
		{"empty GODEBUG", []string{"GODEBUG="}, []string{"GODEBUG=gcshrinkstackoff=1"}, true},
		{"operator's choice", []string{"GODEBUG=gctrace=1,gcshrinkstackoff=0"}, []string{"GODEBUG=gctrace=1,gcshrinkstackoff=0"}, false},
		{"already set (after the exec)", []string{"GODEBUG=gcshrinkstackoff=1"}, []string{"GODEBUG=gcshrinkstackoff=1"}, false},
	} {
		got, reexec := stackEnv(c.in)
		if reexec != c.reexec || !slices.Equal(got, c.want) {
			t.Errorf("%s: stackEnv(%q) = %q, %v; want %q, %v", c.name, c.in, got, reexec, c.want, c.reexec)
		}
	}
}
