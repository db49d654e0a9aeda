// Package netaddr checks the addresses a configuration names, so that a
// typo fails at load ("validate") instead of when a driver starts.
package netaddr

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// CheckListen reports why s is not a "host:port" a TCP listener can bind:
// the host empty, an IP or a host name, the port 0-65535.
func CheckListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 0.0.0.0:1883, 127.0.0.1:0)", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 0-65535", s, port)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Errorf("%q: host %q is neither an IP address nor a host name", s, host)
	}
	return nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}
