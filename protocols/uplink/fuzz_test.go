package uplink

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeBatch: whatever arrives on a telemetry topic, DecodeBatch either
// returns ErrMalformed or a batch whose header is consistent and which
// encodes back to the same batch; it never panics or inflates beyond
// MaxDecompressed. Seeds: testdata/fuzz/FuzzDecodeBatch and the payloads below.
func FuzzDecodeBatch(f *testing.F) {
	good, _ := EncodeBatch(Batch{Office: "12345", Seq: 7, Last: 9, Count: 2, Lines: []byte("pv,office=12345 W=1 1\npv W=2 2\n")})
	f.Add(good)
	f.Add(gz("#polis-batch v1 office=1 seq=5 last=2 count=1\n"))
	f.Add(gz("#polis-batch v1 office=1 seq=1 last=18446744073709551615 count=-1\n"))
	f.Add(gz("#polis-batch v1 office=1 seq=1 last=1 count=1 seq=9\nx"))
	f.Add(gz("#polis-batch v1\n"))
	f.Add([]byte("pv W=1 1"))
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, payload []byte) {
		b, err := DecodeBatch(payload)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if b.Last < b.Seq || b.Count < 0 || len(b.Lines) > MaxDecompressed {
			t.Fatalf("inconsistent batch accepted: %+v", b)
		}
		if ValidOffice(b.Office) != nil || bytes.ContainsAny([]byte(b.Office), " \n") {
			return // the fleet compares the office with the topic's and rejects it
		}
		again, err := EncodeBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		c, err := DecodeBatch(again)
		if err != nil || c.Office != b.Office || c.Seq != b.Seq || c.Last != b.Last || c.Count != b.Count || !bytes.Equal(c.Lines, b.Lines) {
			t.Fatalf("round trip changed the batch: %+v / %+v (%v)", b, c, err)
		}
	})
}
