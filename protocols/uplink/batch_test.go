package uplink

import (
	"bytes"
	"errors"
	"testing"
)

func TestBatchRoundTrip(t *testing.T) {
	in := Batch{Office: "12345", Seq: 7, Last: 9, Count: 2, Lines: []byte("pv,office=12345 W=1 1\npv,office=12345 W=2 2\n")}
	payload, err := EncodeBatch(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeBatch(payload)
	if err != nil {
		t.Fatal(err)
	}
	if out.Office != in.Office || out.Seq != in.Seq || out.Last != in.Last || out.Count != in.Count || !bytes.Equal(out.Lines, in.Lines) {
		t.Fatalf("round trip changed the batch: %+v", out)
	}
}

func gz(s string) []byte { return encoder().EncodeAll([]byte(s), nil) }

func TestDecodeBatchRefusesABomb(t *testing.T) {
	huge := encoder().EncodeAll(bytes.Repeat([]byte("x"), MaxDecompressed+1), nil)
	if len(huge) > 1<<20 {
		t.Fatalf("test payload not small: %d bytes", len(huge))
	}
	if _, err := DecodeBatch(huge); !errors.Is(err, ErrMalformed) {
		t.Fatalf("want ErrMalformed for a decompression bomb, got %v", err)
	}
}

func TestDecodeBatchRejects(t *testing.T) {
	cases := map[string][]byte{
		"not zstd":       []byte("pv W=1 1"),
		"no header":      gz("pv W=1 1\n"),
		"missing seq":    gz("#polis-batch v1 office=1 last=2 count=1\n"),
		"bad number":     gz("#polis-batch v1 office=1 seq=x last=2 count=1\n"),
		"inverted range": gz("#polis-batch v1 office=1 seq=5 last=2 count=1\n"),
		"truncated zstd": gz("#polis-batch v1 office=1 seq=1 last=2 count=1\n")[:10],
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeBatch(payload); !errors.Is(err, ErrMalformed) {
				t.Fatalf("want ErrMalformed, got %v", err)
			}
		})
	}
}

func TestSplitTopic(t *testing.T) {
	office, kind, ok := SplitTopic("polis/v1/12345/cmd/result")
	if !ok || office != "12345" || kind != "cmd/result" {
		t.Fatalf("got %q %q %v", office, kind, ok)
	}
	if _, _, ok := SplitTopic("other/v1/1/x"); ok {
		t.Fatal("accepted a foreign topic")
	}
}
