//go:build bench

package fleet

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/testserver"
)

// cappedInstances runs fleet instances as polis-fleet processes, each held
// to a share of one core by a CPU quota (cgroups): the stand-in for fleet
// instances on machines of their own. On this two-core box the NATS nodes,
// influxd and every instance otherwise share the same cores, so a second
// instance cannot add throughput (it only takes CPU from the first); with
// each instance held to the same small share, the fleet tier is what limits
// the drain, and what a second instance adds is what a second machine would.
type cappedInstances struct {
	t     *testing.T
	bin   string
	dir   string
	share float64 // of one core
	cfg   func(name string) config.Config
}

func newCappedInstances(t *testing.T, share float64, cfg func(name string) config.Config) *cappedInstances {
	dir := t.TempDir()
	return &cappedInstances{t: t, bin: buildPolisFleet(t, dir), dir: dir, share: share, cfg: cfg}
}

// buildPolisFleet builds cmd/polis-fleet into dir, for benches that run the
// fleet as its own process, and returns the binary's path.
func buildPolisFleet(t *testing.T, dir string) string {
	bin := filepath.Join(dir, "polis-fleet")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/polis-fleet").CombinedOutput(); err != nil {
		t.Fatalf("build polis-fleet: %v\n%s", err, out)
	}
	return bin
}

// start runs instance name in its own CPU cgroup and returns its pid,
// whether it is ready (its /readyz: consuming the stream), and its stop.
func (c *cappedInstances) start(name string) (pid int, ready func() bool, stop func()) {
	t := c.t
	cfg := c.cfg(name)
	cfg.Log.Level = "warn"
	cfg.DataDir = filepath.Join(c.dir, "data-"+name)
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	probe := &http.Client{Timeout: 2 * time.Second}
	ready = func() bool {
		resp, err := probe.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.dir, name+".yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	log := &testserver.SyncBuffer{}
	cmd := exec.Command(c.bin, "-config", path)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	group, err := cpuQuota(fmt.Sprintf("polis-bench-%s-%d", name, cmd.Process.Pid), cmd.Process.Pid, c.share)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("hold instance %s to %.2f of a core: %v (the capped scale-out bench needs root and the cgroup cpu controller)", name, c.share, err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { c.stop(cmd, name, log, group) }) }
	t.Cleanup(stop) // a failed bench must not leave the process or its cgroup behind
	return cmd.Process.Pid, ready, stop
}

// stop ends an instance with SIGTERM, as systemd would (a kill after a
// minute), and removes its cgroup.
func (c *cappedInstances) stop(cmd *exec.Cmd, name string, log *testserver.SyncBuffer, group string) {
	defer os.Remove(group)
	switch killed, err := testserver.Terminate(cmd, time.Minute); {
	case killed:
		c.t.Errorf("instance %s did not stop within a minute of SIGTERM\n%s", name, log.String())
	case err != nil:
		c.t.Errorf("instance %s: %v\n%s", name, err, log.String())
	}
}

// cpuQuota creates a cgroup holding pid (every thread of it, and threads it
// starts later) to share of one core, per 100 ms period, and returns its
// directory. cgroup v1's cpu controller where it is mounted, else v2.
func cpuQuota(name string, pid int, share float64) (string, error) {
	const period = 100_000 // µs
	quota := strconv.Itoa(int(share * period))
	var group string
	var files [][2]string
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err == nil {
		group = filepath.Join("/sys/fs/cgroup/cpu", name)
		files = [][2]string{{"cpu.cfs_period_us", strconv.Itoa(period)}, {"cpu.cfs_quota_us", quota}}
	} else {
		group = filepath.Join("/sys/fs/cgroup", name)
		files = [][2]string{{"cpu.max", quota + " " + strconv.Itoa(period)}}
	}
	if err := os.Mkdir(group, 0o755); err != nil {
		return "", err
	}
	files = append(files, [2]string{"cgroup.procs", strconv.Itoa(pid)})
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(group, f[0]), []byte(f[1]), 0o644); err != nil {
			os.Remove(group)
			return "", fmt.Errorf("%s: %w", f[0], err)
		}
	}
	return group, nil
}
