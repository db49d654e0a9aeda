package ocpp

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// cipherSuites12 are the TLS 1.2 suites the OCPP security whitepaper (1.6
// edition 3, 2.0.1 part 2 A00.FR.3xx) requires a central system to offer:
// the ECDHE suites for ECDSA and RSA server keys, and the plain RSA key
// exchange suites older certified chargers still use (Go no longer offers
// those by default, so they are listed). TLS 1.3 suites are not
// configurable in Go and all of them are offered.
var cipherSuites12 = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
}

// certReloader serves the configured certificate and picks up a new one
// when the files change (a renewal), without a restart. A pair that does
// not load (half-written renewal) is logged and the previous one kept.
type certReloader struct {
	certPath, keyPath string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	certMod time.Time
	keyMod  time.Time
}

func newCertReloader(certPath, keyPath string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certPath: certPath, keyPath: keyPath, log: log}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) reload() error {
	cs, err := os.Stat(r.certPath)
	if err != nil {
		return fmt.Errorf("ocpp.tls.cert: %w", err)
	}
	ks, err := os.Stat(r.keyPath)
	if err != nil {
		return fmt.Errorf("ocpp.tls.key: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert != nil && cs.ModTime().Equal(r.certMod) && ks.ModTime().Equal(r.keyMod) {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
	if err != nil {
		return fmt.Errorf("ocpp.tls: load cert/key: %w", err)
	}
	if r.cert != nil && r.log != nil {
		r.log.Info("ocpp: TLS certificate reloaded", "cert", r.certPath)
	}
	r.cert, r.certMod, r.keyMod = &cert, cs.ModTime(), ks.ModTime()
	return nil
}

// get is tls.Config.GetCertificate: one stat per handshake.
func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if err := r.reload(); err != nil && r.log != nil {
		r.log.Warn("ocpp: TLS certificate not reloaded; keeping the previous one", "err", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert, nil
}

// caReloader serves the client CA pool (profile 3) and re-reads the file
// when it changes; a file that does not parse is logged and the previous
// pool kept, so a half-written update never locks every charger out.
type caReloader struct {
	path string
	log  *slog.Logger

	mu   sync.Mutex
	pool *x509.CertPool
	mod  time.Time
	size int64
}

func newCAReloader(path string, log *slog.Logger) (*caReloader, error) {
	r := &caReloader{path: path, log: log}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *caReloader) reload() error {
	st, err := os.Stat(r.path)
	if err != nil {
		return fmt.Errorf("ocpp.tls.client_ca: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pool != nil && st.ModTime().Equal(r.mod) && st.Size() == r.size {
		return nil
	}
	pool, err := loadPool(r.path)
	if err != nil {
		return err
	}
	if r.pool != nil && r.log != nil {
		r.log.Info("ocpp: client CA reloaded", "client_ca", r.path)
	}
	r.pool, r.mod, r.size = pool, st.ModTime(), st.Size()
	return nil
}

// get is called at each handshake: one stat.
func (r *caReloader) get() *x509.CertPool {
	if err := r.reload(); err != nil && r.log != nil {
		r.log.Warn("ocpp: client CA not reloaded; keeping the previous one", "err", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pool
}
