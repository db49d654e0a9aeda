package ocpp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
)

type pki struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPool *x509.CertPool
	dir    string
}

func newPKI(t *testing.T) *pki {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Polis test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{ca: ca, caKey: key, caPool: x509.NewCertPool(), dir: t.TempDir()}
	p.caPool.AddCert(ca)
	writePEM(t, filepath.Join(p.dir, "ca.pem"), "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue makes a leaf certificate; server leaves get 127.0.0.1 as SAN.
func (p *pki) issue(t *testing.T, cn string, server bool) (tls.Certificate, string, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath := filepath.Join(p.dir, cn+".pem"), filepath.Join(p.dir, cn+".key")
	writePEM(t, certPath, "CERTIFICATE", der)
	writePEM(t, keyPath, "EC PRIVATE KEY", kder)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certPath, keyPath
}

func dialStatus(t *testing.T, url, id, user, pass string, tc *tls.Config) int {
	d := websocket.Dialer{Subprotocols: []string{"ocpp1.6"}, TLSClientConfig: tc}
	hdr := http.Header{}
	if user != "" {
		r, _ := http.NewRequest("GET", "http://x", nil)
		r.SetBasicAuth(user, pass)
		hdr.Set("Authorization", r.Header.Get("Authorization"))
	}
	c, resp, err := d.Dial(url+"/"+id, hdr)
	if err == nil {
		c.Close()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		return 0 // refused during the TLS handshake
	}
	return resp.StatusCode
}

func TestSecurityProfiles(t *testing.T) {
	p := newPKI(t)
	_, srvCert, srvKey := p.issue(t, "edge", true)
	cp01, _, _ := p.issue(t, "CP01", false)
	clientTLS := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: p.caPool, Certificates: certs, MinVersion: tls.VersionTLS12}
	}
	for _, tc := range []struct {
		name    string
		profile int
		check   func(t *testing.T, url string)
	}{
		{"1 basic auth", 1, func(t *testing.T, url string) {
			if got := dialStatus(t, url, "CP01", "CP01", "wrong-password-123456", nil); got != http.StatusUnauthorized {
				t.Errorf("wrong password: %d, want 401", got)
			}
			if got := dialStatus(t, url, "CP01", "CP02", testPassword, nil); got != http.StatusUnauthorized {
				t.Errorf("another charger's name: %d, want 401", got)
			}
			if got := dialStatus(t, url, "CP01", "", "", nil); got != http.StatusUnauthorized {
				t.Errorf("no credentials: %d, want 401", got)
			}
		}},
		{"2 TLS and basic auth", 2, func(t *testing.T, url string) {
			if got := dialStatus(t, url, "CP01", "CP01", "nope-nope-nope-nope", clientTLS()); got != http.StatusUnauthorized {
				t.Errorf("wrong password over TLS: %d, want 401", got)
			}
			plain := strings.Replace(url, "wss://", "ws://", 1)
			if got := dialStatus(t, plain, "CP01", "CP01", testPassword, nil); got == http.StatusSwitchingProtocols {
				t.Error("plain ws accepted on a TLS listener")
			}
		}},
		{"3 mutual TLS", 3, func(t *testing.T, url string) {
			if got := dialStatus(t, url, "CP01", "", "", clientTLS()); got == http.StatusSwitchingProtocols {
				t.Error("connection without client certificate accepted")
			}
			if got := dialStatus(t, url, "CP02", "", "", clientTLS(cp01)); got != http.StatusForbidden {
				t.Errorf("CP01's certificate used as CP02: %d, want 403", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.SecurityProfile = ocpp.Profile(tc.profile)
			cfg.TLS = ocpp.TLSConfig{Cert: srvCert, Key: srvKey, ClientCA: filepath.Join(p.dir, "ca.pem")}
			h := start(t, cfg, openDB(t), &recorder{})
			scheme := "ws://"
			simCfg := ocppsim.Config{ID: "CP01", Connectors: 2}
			if tc.profile >= 1 && tc.profile <= 2 {
				simCfg.Password = testPassword
			}
			if tc.profile >= 2 {
				scheme = "wss://"
				simCfg.TLS = clientTLS()
			}
			if tc.profile == 3 {
				simCfg.TLS = clientTLS(cp01)
			}
			url := scheme + h.svc.Addr().String() + "/ocpp"
			tc.check(t, url)
			simCfg.URL = url
			runSim(t, simCfg)
			eventually(t, "charger with right credentials boots", func() bool {
				c, _ := connector(h, "CP01", 1)
				return c.Online && c.Status == "Available"
			})
		})
	}
}

func TestConfigValidateNamesKeys(t *testing.T) {
	for _, tc := range []struct {
		mut  func(*ocpp.Config)
		want string
	}{
		{func(c *ocpp.Config) { c.SecurityProfile = ocpp.Profile(4) }, "ocpp.security_profile"},
		{func(c *ocpp.Config) { c.SecurityProfile = ocpp.Profile(1); c.Chargers[1].Password = "short" }, "ocpp.chargers[1].password"},
		{func(c *ocpp.Config) { c.SecurityProfile = ocpp.Profile(3) }, "ocpp.tls"},
		{func(c *ocpp.Config) { c.Chargers[0].ID = "a/b" }, "ocpp.chargers[0].id"},
		{func(c *ocpp.Config) { c.Auth.Tags[0].Departure = "7.30" }, "ocpp.auth.tags[0].departure"},
		{func(c *ocpp.Config) { c.Auth.UnknownTags = "maybe" }, "ocpp.auth.unknown_tags"},
		{func(c *ocpp.Config) { c.UnknownChargerBoot = "later" }, "ocpp.unknown_charger_boot"},
	} {
		cfg := baseConfig()
		tc.mut(&cfg)
		cfg.ApplyDefaults()
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want mention of %s", err, tc.want)
		}
	}
	cfg := baseConfig()
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// The default is security profile 1 with a password per charger; profile 0
// (anyone who knows a charger id can take its place) must be asked for, and
// only on loopback unless forced.
func TestSecurityDefault_Profile1AndNoInsecureOnNetwork(t *testing.T) {
	cfg := baseConfig()
	cfg.SecurityProfile = nil
	cfg.Chargers[0].Password = ""
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ocpp.chargers[0].password") {
		t.Errorf("unset profile without a password: %v, want a chargers[0].password error", err)
	}
	cfg = baseConfig()
	cfg.SecurityProfile = nil
	h := start(t, cfg, openDB(t), &recorder{})
	if got := dialStatus(t, h.url(), "CP01", "", "", nil); got != http.StatusUnauthorized {
		t.Errorf("default config, no credentials: %d, want 401", got)
	}
	if got := dialStatus(t, h.url(), "CP01", "CP01", testPassword, nil); got != http.StatusSwitchingProtocols {
		t.Errorf("default config, right password: %d, want 101", got)
	}
	for _, tc := range []struct {
		listen string
		force  bool
		ok     bool
	}{
		{"0.0.0.0:8887", false, false},
		{"192.168.1.10:8887", false, false},
		{":8887", false, false},
		{"0.0.0.0:8887", true, true},
		{"127.0.0.1:8887", false, true},
		{"[::1]:8887", false, true},
		{"localhost:8887", false, true},
	} {
		cfg := baseConfig()
		cfg.Listen, cfg.ForceInsecure = tc.listen, tc.force
		cfg.ApplyDefaults()
		err := cfg.Validate()
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "ocpp.security_profile")) {
			t.Errorf("profile 0 on %s (force %v): %v", tc.listen, tc.force, err)
		}
	}
}

// Profile 2 offers TLS 1.2 with the whitepaper's suites (including the plain
// RSA key exchange TLS_RSA_WITH_AES_128_GCM_SHA256 older chargers use, and
// the ECDHE suites) and TLS 1.3, with an RSA or an ECDSA key; a renewed
// certificate is served without a restart.
func TestTLS_SuitesKeysAndReload(t *testing.T) {
	p := newPKI(t)
	for _, keyType := range []string{"rsa", "ecdsa"} {
		t.Run(keyType, func(t *testing.T) {
			certPath, keyPath := p.issueKey(t, "edge-"+keyType, keyType)
			cfg := baseConfig()
			cfg.SecurityProfile = ocpp.Profile(2)
			cfg.TLS = ocpp.TLSConfig{Cert: certPath, Key: keyPath}
			h := start(t, cfg, openDB(t), &recorder{})
			url := "wss://" + h.svc.Addr().String() + "/ocpp"
			suites := map[string][]uint16{
				"ecdsa": {tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
				"rsa":   {tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
			}[keyType]
			for _, suite := range suites {
				tc := &tls.Config{RootCAs: p.caPool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}
				if got := dialStatus(t, url, "CP01", "CP01", testPassword, tc); got != http.StatusSwitchingProtocols {
					t.Errorf("TLS 1.2 %s: %d", tls.CipherSuiteName(suite), got)
				}
			}
			tc13 := &tls.Config{RootCAs: p.caPool, MinVersion: tls.VersionTLS13}
			if got := dialStatus(t, url, "CP01", "CP01", testPassword, tc13); got != http.StatusSwitchingProtocols {
				t.Errorf("TLS 1.3: %d", got)
			}
			// Renewal: new files at the same paths, served to the next charger.
			serial := func() string {
				conn, err := tls.Dial("tcp", h.svc.Addr().String(), &tls.Config{RootCAs: p.caPool})
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
			}
			before := serial()
			newCert, newKey := p.issueKey(t, "renewed-"+keyType, keyType)
			for src, dst := range map[string]string{newCert: certPath, newKey: keyPath} {
				b, _ := os.ReadFile(src)
				if err := os.WriteFile(dst, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			later := time.Now().Add(time.Second)
			os.Chtimes(certPath, later, later)
			os.Chtimes(keyPath, later, later)
			if after := serial(); after == before {
				t.Errorf("certificate not reloaded: serial still %s", after)
			}
		})
	}
}

// issueKey makes a server certificate with an RSA or ECDSA key.
func (p *pki) issueKey(t *testing.T, cn, keyType string) (string, string) {
	var pub any
	var kder []byte
	var kpem string
	switch keyType {
	case "rsa":
		key, _ := rsa.GenerateKey(rand.Reader, 2048)
		pub, kder, kpem = &key.PublicKey, x509.MarshalPKCS1PrivateKey(key), "RSA PRIVATE KEY"
	default:
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		kder, _ = x509.MarshalECPrivateKey(key)
		pub, kpem = &key.PublicKey, "EC PRIVATE KEY"
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, pub, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(p.dir, cn+".pem"), filepath.Join(p.dir, cn+".key")
	writePEM(t, certPath, "CERTIFICATE", der)
	writePEM(t, keyPath, kpem, kder)
	return certPath, keyPath
}
