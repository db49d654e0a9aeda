package bytesize

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Size{"512MiB": 512 << 20, "64KiB": 64 << 10, "1GB": 1e9, "4096": 4096, "10 MiB": 10 << 20, "8EiB": 0} {
		got, err := Parse(in)
		if want == 0 {
			if err == nil {
				t.Errorf("%s: want error, got %d", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s: got %d, %v; want %d", in, got, err, want)
		}
	}
}

// Values that do not fit are refused, never wrapped (17179869185GiB once
// validated and ran as 1 GiB).
func TestParseRefusesWrap(t *testing.T) {
	for _, in := range []string{"17179869185GiB", "9223372036854775808", "8589934592GiB", "9999999999999999999999KiB", "-1", "1.5MiB", "MiB", ""} {
		got, err := Parse(in)
		if err == nil {
			t.Errorf("%q: want error, got %d", in, got)
		}
		if strings.Contains(in, "GiB") && err != nil && !strings.Contains(err.Error(), "too large") {
			t.Errorf("%q: error %q does not say too large", in, err)
		}
	}
}
