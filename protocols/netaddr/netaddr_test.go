package netaddr

import "testing"

func TestCheckListen(t *testing.T) {
	for _, ok := range []string{"0.0.0.0:1883", "127.0.0.1:0", ":9100", "[::1]:8080", "localhost:1883", "edge-1.local:80"} {
		if err := CheckListen(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"nonsense", "", "1883", "host:port", "127.0.0.1:70000", "bad host:1", "a..b:1", "127.0.0.1:-1"} {
		if err := CheckListen(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
