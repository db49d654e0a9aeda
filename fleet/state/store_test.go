package state

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/testserver"
)

// Both backends must behave the same: the packages that keep their records
// in the store (users, alarms, commands, audit) do not know which one runs.
func TestStoreBackendsAgree(t *testing.T) {
	backends := map[string]func(t *testing.T) Store{
		"bolt": func(t *testing.T) Store {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"jetstream-kv": func(t *testing.T) Store {
			node := testserver.NATSCluster(t, 1, "")[0]
			s, err := OpenKV("nats://"+node.Client, "", "", 1)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			if _, err := s.Get("users", "nobody"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing key: %v", err)
			}
			if err := s.Put("users", "anna@example.it", []byte("v1")); err != nil {
				t.Fatal(err)
			}
			if err := s.Create("users", "anna@example.it", []byte("v2")); !errors.Is(err, ErrExists) {
				t.Fatalf("Create over an existing key: %v", err)
			}
			if v, _ := s.Get("users", "anna@example.it"); string(v) != "v1" {
				t.Fatalf("Create must not overwrite: %q", v)
			}
			if err := s.Delete("users", "anna@example.it"); err != nil {
				t.Fatal(err)
			}
			if err := s.Create("users", "anna@example.it", []byte("v3")); err != nil {
				t.Fatalf("Create after Delete: %v", err)
			}
			// Journals scan in time order from a point, by prefix, and stop on ErrStop.
			at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
			var want []string
			for i := range 5 {
				k := TimeKey(at.Add(time.Duration(i) * time.Minute))
				want = append(want, k)
				if err := s.Put("audit", k, []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			s.Put("audit", "zz-other", []byte("x"))
			var got []string
			s.Scan("audit", "", TimeFrom(at.Add(2*time.Minute)), func(k string, v []byte) error {
				got = append(got, string(v))
				if len(got) == 2 {
					return ErrStop
				}
				return nil
			})
			if strings.Join(got, ",") != "2,3" {
				t.Fatalf("scan from the third entry, stopping after two: %v", got)
			}
			n, err := PruneBefore(s, "audit", at.Add(150*time.Second))
			if err != nil || n != 3 {
				t.Fatalf("pruned %d (%v), want 3", n, err)
			}
			got = nil
			s.Scan("audit", "", "", func(k string, v []byte) error { got = append(got, k); return nil })
			if strings.Join(got, ",") != strings.Join([]string{want[3], want[4], "zz-other"}, ",") {
				t.Fatalf("after pruning: %v", got)
			}
			var buf bytes.Buffer
			if n, err := s.Backup(&buf); err != nil || n == 0 || int64(buf.Len()) != n {
				t.Fatalf("backup: %d bytes (%v), buffer %d", n, err, buf.Len())
			}
		})
	}
}
