package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"golang.org/x/sys/unix"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/sample"
)

// Verdicts of `polis-edge doctor`. The office is ready when every check is OK:
// a Skip (a check that could not run) counts as not ready.
const (
	CheckOK   = "ok"
	CheckFail = "FAIL"
	CheckSkip = "skip"
)

// Check is one line of `polis-edge doctor`.
type Check struct {
	Name    string `json:"name"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail"`
}

// DoctorOptions let tests replace what reads the machine.
type DoctorOptions struct {
	Now     func() time.Time
	Synced  func() (bool, error) // kernel clock synchronised (adjtimex)
	Timeout time.Duration        // per network check
}

// Doctor runs every check an installer needs on site, in the order they
// would fix things. If the daemon already runs with this config, devices are
// judged by what it sees; otherwise ports must be free and Modbus devices
// are read directly (chargers and MQTT devices connect to the daemon, so
// they can only be checked once it runs).
func Doctor(ctx context.Context, cfg config.Config, o DoctorOptions) []Check {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Synced == nil {
		o.Synced = kernelClockSynced
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	checks := []Check{
		checkOffice(cfg),
		checkClock(o.Now(), o.Synced),
		checkDisk(cfg),
		checkFleet(ctx, cfg, o.Timeout),
	}
	if st, ok := runningDaemon(ctx, cfg, o.Timeout); ok {
		checks = append(checks, Check{"ports", CheckOK, "in use by the running polis-edge of office " + st.Office})
		return append(checks, devicesFromDaemon(cfg, st)...)
	}
	checks = append(checks, checkPorts(cfg)...)
	return append(checks, devicesDirect(ctx, cfg, o.Timeout)...)
}

// Ready reports whether every check passed.
func Ready(checks []Check) bool {
	for _, c := range checks {
		if c.Verdict != CheckOK {
			return false
		}
	}
	return true
}

func checkOffice(cfg config.Config) Check {
	if cfg.Office.ID == "unconfigured" {
		return Check{"config", CheckFail, "office.id is still the packaged placeholder: set the office id the fleet knows"}
	}
	return Check{"config", CheckOK, fmt.Sprintf("valid, office %s", cfg.Office.ID)}
}

// checkClock: samples carry the box's time. A box without RTC boots at 1970
// (or at its last shutdown) and must not stamp samples until NTP set it.
func checkClock(now time.Time, synced func() (bool, error)) Check {
	if now.Before(sample.MinTime) {
		return Check{"clock", CheckFail, fmt.Sprintf("system time is %s (before %s): no RTC and no NTP yet; samples would be refused",
			now.UTC().Format(time.RFC3339), sample.MinTime.Format("2006"))}
	}
	ok, err := synced()
	switch {
	case err != nil:
		return Check{"clock", CheckFail, fmt.Sprintf("cannot read the kernel clock status: %v", err)}
	case !ok:
		return Check{"clock", CheckFail, fmt.Sprintf("system time %s is not synchronised by NTP (kernel STA_UNSYNC): enable systemd-timesyncd or chrony",
			now.UTC().Format(time.RFC3339))}
	}
	return Check{"clock", CheckOK, "synchronised, " + now.UTC().Format(time.RFC3339)}
}

func kernelClockSynced() (bool, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, err
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0, nil
}

// checkDisk: the buffer must be able to grow to max_bytes (plus bbolt's page
// slack) on the data dir's filesystem, and the dir must be writable.
func checkDisk(cfg config.Config) Check {
	dir := filepath.Dir(cfg.BufferPath())
	existing := dir
	for {
		if _, err := os.Stat(existing); err == nil || existing == filepath.Dir(existing) {
			break
		}
		existing = filepath.Dir(existing)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(existing, &fs); err != nil {
		return Check{"disk", CheckFail, fmt.Sprintf("%s: %v", existing, err)}
	}
	if existing == dir {
		f, err := os.CreateTemp(dir, ".doctor-*")
		if err != nil {
			return Check{"disk", CheckFail, fmt.Sprintf("data dir %s is not writable: %v", dir, err)}
		}
		f.Close()
		os.Remove(f.Name())
	}
	free := int64(fs.Bavail) * int64(fs.Bsize)
	var used int64
	if fi, err := os.Stat(cfg.BufferPath()); err == nil {
		used = fi.Size()
	}
	need := int64(cfg.Buffer.MaxBytes)*3/2 - used // stored bytes + page slack (edge/buffer/README.md)
	if free < need {
		return Check{"disk", CheckFail, fmt.Sprintf("%s has %s free, the buffer may need %s more (buffer.max_bytes %s)",
			existing, mib(free), mib(need), mib(int64(cfg.Buffer.MaxBytes)))}
	}
	return Check{"disk", CheckOK, fmt.Sprintf("%s free on %s for a buffer of up to %s", mib(free), existing, mib(int64(cfg.Buffer.MaxBytes)))}
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// checkFleet logs in to the fleet broker with the office's credentials, with a
// client id of its own so a running daemon's session is not taken over.
func checkFleet(ctx context.Context, cfg config.Config, timeout time.Duration) Check {
	if !cfg.UplinkEnabled() {
		return Check{"fleet", CheckSkip, "uplink.enabled is false: nothing reaches the fleet"}
	}
	u := cfg.Uplink
	password := u.Password
	if u.PasswordFile != "" {
		b, err := os.ReadFile(u.PasswordFile)
		if err != nil {
			return Check{"fleet", CheckFail, fmt.Sprintf("uplink.password_file: %v", err)}
		}
		password = strings.TrimSpace(string(b))
	}
	username := u.Username
	if username == "" {
		username = cfg.Office.ID
	}
	tlsCfg, err := uplinkTLS(u)
	if err != nil {
		return Check{"fleet", CheckFail, err.Error()}
	}
	o := paho.NewClientOptions().AddBroker(u.URL).SetClientID("polis-edge-" + cfg.Office.ID + "-doctor").
		SetUsername(username).SetPassword(password).SetCleanSession(true).SetAutoReconnect(false).
		SetConnectRetry(false).SetConnectTimeout(timeout)
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(timeout + time.Second) {
		return Check{"fleet", CheckFail, fmt.Sprintf("%s: no answer within %s", u.URL, timeout)}
	}
	if err := tok.Error(); err != nil {
		if errors.Is(err, packets.ErrorRefusedNotAuthorised) || errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) {
			return Check{"fleet", CheckFail, fmt.Sprintf("%s reachable but refused user %q: %v (check the password and that the fleet knows office %s)",
				u.URL, username, err, cfg.Office.ID)}
		}
		return Check{"fleet", CheckFail, fmt.Sprintf("%s: %v", u.URL, err)}
	}
	c.Disconnect(100)
	return Check{"fleet", CheckOK, fmt.Sprintf("%s accepted office %s", u.URL, username)}
}

// daemonStatus is the part of /api/v1/status doctor reads.
type daemonStatus struct {
	Office  string `json:"office"`
	Devices []struct {
		ID, Kind, Protocol, State string
		LastError                 string `json:"last_error"`
	} `json:"devices"`
}

func runningDaemon(ctx context.Context, cfg config.Config, timeout time.Duration) (daemonStatus, bool) {
	var st daemonStatus
	if cfg.HTTP.Listen == "" {
		return st, false
	}
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil || port == "0" {
		return st, false
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/api/v1/status", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil || st.Office != cfg.Office.ID {
		return st, false
	}
	return st, true
}

// configured lists every device of the config as protocol/id.
func configured(cfg config.Config) []string {
	var ids []string
	if m := cfg.Modbus; m != nil {
		for _, d := range m.Devices {
			ids = append(ids, "modbus/"+d.ID)
		}
	}
	if c := cfg.OCPP; c != nil {
		for _, ch := range c.Chargers {
			ids = append(ids, "ocpp/"+ch.ID)
		}
	}
	if m := cfg.MQTT; m != nil {
		for _, d := range m.Devices {
			ids = append(ids, "mqtt/"+d.ID)
		}
	}
	return ids
}

func devicesFromDaemon(cfg config.Config, st daemonStatus) []Check {
	seen := map[string]string{}
	detail := map[string]string{}
	for _, d := range st.Devices {
		seen[d.Protocol+"/"+d.ID] = d.State
		detail[d.Protocol+"/"+d.ID] = d.LastError
	}
	var checks []Check
	for _, id := range configured(cfg) {
		switch state := seen[id]; state {
		case "ok":
			checks = append(checks, Check{"device " + id, CheckOK, "answering (seen by the running daemon)"})
		case "":
			checks = append(checks, Check{"device " + id, CheckFail, "configured but the running daemon does not know it: restart it to apply the config"})
		default:
			checks = append(checks, Check{"device " + id, CheckFail, strings.TrimSpace(state + " " + detail[id])})
		}
	}
	return checks
}
