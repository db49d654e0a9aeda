package testserver

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// MosquittoServer is a running Debian mosquitto broker.
type MosquittoServer struct {
	Addr string // host:port on 127.0.0.1
	URL  string // tcp://host:port
	log  *bytes.Buffer
}

// MosquittoOption configures the broker.
type MosquittoOption func(*mosquittoConfig)

type mosquittoConfig struct {
	users       map[string]string
	maxInflight int
}

// WithMaxInflight sets how many QoS 1 messages the broker sends a client
// before it waits for their PUBACKs (mosquitto's max_inflight_messages).
func WithMaxInflight(n int) MosquittoOption {
	return func(c *mosquittoConfig) { c.maxInflight = n }
}

// WithUsers requires these username/password pairs (no anonymous access).
func WithUsers(users map[string]string) MosquittoOption {
	return func(c *mosquittoConfig) { c.users = users }
}

// mosquittoBinary is where Debian installs the broker.
func mosquittoBinary() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", fmt.Errorf("mosquitto not found")
}

// Mosquitto starts a broker on a free loopback port for the duration of the
// test. A missing binary fails the test: the tests need a real broker.
func Mosquitto(t testing.TB, opts ...MosquittoOption) *MosquittoServer {
	t.Helper()
	var cfg mosquittoConfig
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := mosquittoBinary()
	if err != nil {
		t.Fatalf("install mosquitto (make tools): %v", err)
	}
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // the free port can be taken between probe and bind
		srv, err := startMosquitto(t, bin, dir, cfg)
		if err == nil {
			return srv
		}
		lastErr = err
	}
	t.Fatalf("start mosquitto: %v", lastErr)
	return nil
}

func startMosquitto(t testing.TB, bin, dir string, cfg mosquittoConfig) (*MosquittoServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := []string{
		fmt.Sprintf("listener %d 127.0.0.1", port),
		"persistence false",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		"max_queued_messages 10000",
	}
	if cfg.maxInflight > 0 {
		conf = append(conf, fmt.Sprintf("max_inflight_messages %d", cfg.maxInflight))
	}
	if os.Geteuid() == 0 {
		// mosquitto drops root for user "mosquitto", who cannot read the test's private temp dir.
		conf = append(conf, "user root")
	}
	if len(cfg.users) == 0 {
		conf = append(conf, "allow_anonymous true")
	} else {
		pw := filepath.Join(dir, "passwd")
		if err := writePasswords(pw, cfg.users); err != nil {
			return nil, err
		}
		conf = append(conf, "allow_anonymous false", "password_file "+pw)
	}
	confPath := filepath.Join(dir, fmt.Sprintf("mosquitto-%d.conf", port))
	if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "-c", confPath)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("mosquitto exited (%v): %s", err, log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("mosquitto did not listen on %s: %s", addr, log.String())
		}
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return &MosquittoServer{Addr: addr, URL: "tcp://" + addr, log: &log}, nil
}

func writePasswords(path string, users map[string]string) error {
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return err
	}
	for u, p := range users {
		out, err := exec.Command("mosquitto_passwd", "-b", path, u, p).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mosquitto_passwd %s: %v: %s", u, err, out)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
