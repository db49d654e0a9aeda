package uplink

import (
	"bytes"
	"compress/gzip"
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

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestDecodeBatchRejects(t *testing.T) {
	cases := map[string][]byte{
		"not gzip":       []byte("pv W=1 1"),
		"no header":      gz("pv W=1 1\n"),
		"missing seq":    gz("#polis-batch v1 office=1 last=2 count=1\n"),
		"bad number":     gz("#polis-batch v1 office=1 seq=x last=2 count=1\n"),
		"inverted range": gz("#polis-batch v1 office=1 seq=5 last=2 count=1\n"),
		"truncated gzip": gz("#polis-batch v1 office=1 seq=1 last=2 count=1\n")[:10],
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
