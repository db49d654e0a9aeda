package ocpp_test

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
)

// Profiles 1, 2 and 3 served at once on three listeners: each charger
// connects on the profile it is set up for, a charger whose minimum is
// higher is refused on a lower listener, and the client CA of profile 3 is
// re-read when its file changes (a new charger CA, a removed one) without
// a restart.
func TestSecurityProfiles_AllAtOnceAndClientCAReload(t *testing.T) {
	p := newPKI(t)
	_, srvCert, srvKey := p.issue(t, "edge", true)
	cp03, _, _ := p.issue(t, "CP03", false)
	caFile := filepath.Join(t.TempDir(), "client-ca.pem")
	caPEM, _ := os.ReadFile(filepath.Join(p.dir, "ca.pem"))
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig()
	cfg.SecurityProfile = ocpp.Profile(1)
	cfg.Listeners = []ocpp.ListenerConfig{{Listen: "127.0.0.1:0", SecurityProfile: 2}, {Listen: "127.0.0.1:0", SecurityProfile: 3}}
	cfg.TLS = ocpp.TLSConfig{Cert: srvCert, Key: srvKey, ClientCA: caFile}
	cfg.Chargers = []ocpp.ChargerConfig{
		{ID: "CP01", Password: testPassword, Connectors: 1},
		{ID: "CP02", Password: testPassword, Connectors: 1, SecurityProfile: 2},
		{ID: "CP03", Connectors: 1, SecurityProfile: 3},
	}
	h := start(t, cfg, openDB(t), &recorder{})
	url := func(profile int) string {
		scheme := "wss://"
		if profile < 2 {
			scheme = "ws://"
		}
		return scheme + h.svc.AddrOf(profile).String() + "/ocpp"
	}
	clientTLS := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: p.caPool, Certificates: certs, MinVersion: tls.VersionTLS12}
	}
	for _, c := range []struct {
		what           string
		profile        int
		id, user, pass string
		tc             *tls.Config
		want           int
	}{
		{"profile 1 charger on 1", 1, "CP01", "CP01", testPassword, nil, http.StatusSwitchingProtocols},
		{"profile 1 charger on 2", 2, "CP01", "CP01", testPassword, clientTLS(), http.StatusSwitchingProtocols},
		{"profile 2 charger on 2", 2, "CP02", "CP02", testPassword, clientTLS(), http.StatusSwitchingProtocols},
		{"profile 2 charger on 1 (plain text)", 1, "CP02", "CP02", testPassword, nil, http.StatusForbidden},
		{"profile 3 charger on 3", 3, "CP03", "", "", clientTLS(cp03), http.StatusSwitchingProtocols},
		{"profile 3 charger on 2", 2, "CP03", "CP03", "any-password-at-all", clientTLS(), http.StatusForbidden},
		{"no certificate on 3", 3, "CP01", "", "", clientTLS(), 0},
		{"plain text on the TLS listener", 2, "CP01", "CP01", testPassword, nil, 0},
	} {
		u := url(c.profile)
		if c.tc == nil {
			u = "ws://" + h.svc.AddrOf(c.profile).String() + "/ocpp"
		}
		got := dialStatus(t, u, c.id, c.user, c.pass, c.tc)
		if (c.want == 0 && got == http.StatusSwitchingProtocols) || (c.want != 0 && got != c.want) {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
	}
	if r := h.svc.Refusals(); r["profile_too_low"] != 2 {
		t.Errorf("refusals %v, want profile_too_low 2", r)
	}

	// Each charger boots over its own listener at the same time.
	runSim(t, ocppsim.Config{URL: url(1), ID: "CP01", Password: testPassword, Connectors: 1})
	runSim(t, ocppsim.Config{URL: url(2), ID: "CP02", Password: testPassword, Connectors: 1, TLS: clientTLS()})
	runSim(t, ocppsim.Config{URL: url(3), ID: "CP03", Connectors: 1, TLS: clientTLS(cp03), Version: ocppsim.V201})
	eventually(t, "three chargers online, one per profile", func() bool {
		for _, id := range []string{"CP01", "CP02", "CP03"} {
			if c, _ := connector(h, id, 1); !c.Online || c.Status != "Available" {
				return false
			}
		}
		return true
	})

	// A second charger CA: its chargers are refused until the file lists it.
	p2 := newPKI(t)
	cp03b, _, _ := p2.issue(t, "CP03", false)
	if got := dialStatus(t, url(3), "CP03", "", "", clientTLS(cp03b)); got == http.StatusSwitchingProtocols {
		t.Fatal("certificate of an unknown CA accepted")
	}
	ca2PEM, _ := os.ReadFile(filepath.Join(p2.dir, "ca.pem"))
	writeCA := func(data []byte) {
		t.Helper()
		if err := os.WriteFile(caFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
		// Make the change visible even on a coarse-mtime file system.
		future := time.Now().Add(time.Duration(len(data)) * time.Second)
		_ = os.Chtimes(caFile, future, future)
	}
	writeCA(append(append([]byte{}, caPEM...), ca2PEM...))
	if got := dialStatus(t, url(3), "CP03", "", "", clientTLS(cp03b)); got != http.StatusSwitchingProtocols {
		t.Errorf("after adding the CA: %d, want 101 without a restart", got)
	}
	writeCA(ca2PEM)
	if got := dialStatus(t, url(3), "CP03", "", "", clientTLS(cp03)); got == http.StatusSwitchingProtocols {
		t.Error("certificate of a removed CA still accepted")
	}
	writeCA([]byte("half-written"))
	if got := dialStatus(t, url(3), "CP03", "", "", clientTLS(cp03b)); got != http.StatusSwitchingProtocols {
		t.Errorf("a broken CA file must keep the previous pool: %d", got)
	}
}
