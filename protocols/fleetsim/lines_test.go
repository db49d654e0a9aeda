package fleetsim

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// genericWriter is a lineWriter with no series prefix: every line goes
// through sample.AppendLine, on the same schedule and values.
func genericWriter(m Mix, office string, extra map[string]string) *lineWriter {
	w := m.writer(office, extra)
	clear(w.prefix)
	return w
}

// TestLineWriterWritesWhatSampleWrites: the simulator's fast line writer
// and the generic encoder agree byte for byte, for both mixes, with and
// without registry tags, and for series that need escaping or carry values
// the fast path leaves to the generic one.
func TestLineWriterWritesWhatSampleWrites(t *testing.T) {
	odd := Mix{
		{Measurement: "my meas,x", Device: "a,b=c d", Every: time.Second, Fields: func(r *rand.Rand, n int64) map[string]any {
			return map[string]any{"k=1": r.Float64(), "q": `say "hi" \ there`, "u": uint32(n), "b": n%2 == 0}
		}},
		{Measurement: "plain", Device: "dev", Every: time.Second, Fields: func(r *rand.Rand, n int64) map[string]any {
			f := map[string]any{"v": r.Float64() * 1e21, "small": r.Float64() * 1e-7, "neg": -r.Float64(), "s": "line\nbreak"}
			if n%3 == 0 {
				f["extra"] = int64(n) // a field the first line did not have
			}
			return f
		}},
	}
	from := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	for name, m := range map[string]Mix{"reference": ReferenceMix, "aggregated": AggregatedMix, "odd": odd} {
		for _, extra := range []map[string]string{nil, registryTags(3, "10003"), {"comune": "San Giovanni, al=Mare"}} {
			want, _, err := genericWriter(m, "10003", extra).appendDue(nil, rand.New(rand.NewPCG(7, 8)), make([]int64, len(m)), from, from.Add(2*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			got, n, err := m.writer("10003", extra).appendDue(nil, rand.New(rand.NewPCG(7, 8)), make([]int64, len(m)), from, from.Add(2*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s mix, tags %v: fast writer differs\n got %.300q\nwant %.300q", name, extra, got, want)
			}
			if n != bytes.Count(want, []byte("\n")) || n == 0 {
				t.Fatalf("%s mix: %d lines said, %d written", name, n, bytes.Count(want, []byte("\n")))
			}
			if name == "odd" {
				continue
			}
			// Or the comparison above compares the generic path with itself.
			w := m.writer("10003", extra)
			w.appendDue(nil, rand.New(rand.NewPCG(7, 8)), make([]int64, len(m)), from, from.Add(2*time.Minute))
			for i := range m {
				if w.prefix[i] == nil || w.keys[i] == nil {
					t.Fatalf("%s mix, tags %v: series %s takes the generic path", name, extra, m[i].Device)
				}
			}
		}
	}
	bad := Mix{{Measurement: "m", Device: "d", Every: time.Second, Fields: func(*rand.Rand, int64) map[string]any {
		return map[string]any{"v": math.NaN()}
	}}}
	if _, _, err := bad.writer("10003", nil).appendDue(nil, rand.New(rand.NewPCG(1, 1)), []int64{0}, from, from.Add(time.Second)); err == nil {
		t.Fatal("a NaN field was written, want the generic path's error")
	}
}

// BenchmarkAppendDue: one office's minute of the reference mix, through the
// per-series prefixes and (Generic) through the generic encoder.
func BenchmarkAppendDue(b *testing.B) {
	benchAppendDue(b, ReferenceMix.writer("10003", registryTags(3, "10003")))
}

func BenchmarkAppendDueGeneric(b *testing.B) {
	benchAppendDue(b, genericWriter(ReferenceMix, "10003", registryTags(3, "10003")))
}

func benchAppendDue(b *testing.B, w *lineWriter) {
	r := rand.New(rand.NewPCG(1, 2))
	counts := make([]int64, len(ReferenceMix))
	from := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, _, err = w.appendDue(buf[:0], r, counts, from, from.Add(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
}
