package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/testserver"
)

const testVersion = "9.9.9+test"

// buildBins cross-builds both daemons the way `make dist` does, once per
// architecture for the whole test binary.
func buildBins(t *testing.T, goarch string) string {
	t.Helper()
	binsMu.Lock()
	defer binsMu.Unlock()
	if dir, ok := bins[goarch]; ok {
		return dir
	}
	if binsRoot == "" {
		var err error
		if binsRoot, err = os.MkdirTemp("", "polis-pkg-test-"); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(binsRoot, "bin")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags",
		"-s -w -X main.version="+testVersion+" -X github.com/polis-edge/polis/fleet.Version="+testVersion,
		"-o", filepath.Join(dir, goarch)+"/", "../polis-edge", "../polis-fleet")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOARM=7")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", goarch, err, b)
	}
	bins[goarch] = dir
	return dir
}

var (
	binsMu   sync.Mutex
	bins     = map[string]string{}
	binsRoot string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binsRoot != "" {
		os.RemoveAll(binsRoot)
	}
	os.Exit(code)
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func makeDebs(t *testing.T, goarch string) (edge, fleet string) {
	t.Helper()
	bins := buildBins(t, goarch)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-version", testVersion, "-bins", bins, "-out", out, "-files", "files", "-arch", goarch}, &stdout, &stderr); code != 0 {
		t.Fatalf("polis-pkg exit %d: %s", code, stderr.String())
	}
	arch, _ := debArch(goarch)
	return filepath.Join(out, "polis-edge_"+testVersion+"_"+arch+".deb"), filepath.Join(out, "polis-fleet_"+testVersion+"_"+arch+".deb")
}

// TestPackagesForEveryArch builds the packages for the three architectures
// we ship and checks, with dpkg-deb, the metadata, the file list with modes,
// the conffiles and that each binary is a static executable for its CPU.
func TestPackagesForEveryArch(t *testing.T) {
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM}
	for goarch, machine := range machines {
		t.Run(goarch, func(t *testing.T) {
			edgeDeb, fleetDeb := makeDebs(t, goarch)
			arch, _ := debArch(goarch)
			for _, c := range []struct {
				deb, name, yaml string
				conffiles       []string
			}{
				{edgeDeb, "polis-edge", "edge.yaml", []string{"/etc/polis/edge.yaml", "/etc/polis/edge-uplink.secret"}},
				{fleetDeb, "polis-fleet", "fleet.yaml", []string{"/etc/polis/fleet.yaml"}},
			} {
				fields := map[string]string{"Package": c.name, "Version": testVersion, "Architecture": arch, "Depends": "adduser"}
				for k, want := range fields {
					if got := strings.TrimSpace(sh(t, "dpkg-deb", "-f", c.deb, k)); got != want {
						t.Errorf("%s %s = %q, want %q", c.name, k, got, want)
					}
				}
				list := sh(t, "dpkg-deb", "-c", c.deb)
				for _, want := range []string{
					`-rwxr-xr-x root/root .* ./usr/bin/` + c.name + `\n`,
					`-rw-r--r-- root/root .* ./lib/systemd/system/` + c.name + `.service\n`,
					`-rw-r----- root/root .* ./etc/polis/` + c.yaml + `\n`,
				} {
					if !regexp.MustCompile(want).MatchString(list) {
						t.Errorf("%s lacks %s:\n%s", c.name, want, list)
					}
				}
				ctrl := t.TempDir()
				sh(t, "dpkg-deb", "-e", c.deb, ctrl)
				conf, _ := os.ReadFile(filepath.Join(ctrl, "conffiles"))
				for _, f := range c.conffiles {
					if !strings.Contains(string(conf), f) {
						t.Errorf("%s conffiles lack %s: %q", c.name, f, conf)
					}
				}
				for _, s := range []string{"postinst", "prerm", "postrm"} {
					if fi, err := os.Stat(filepath.Join(ctrl, s)); err != nil || fi.Mode()&0o111 == 0 {
						t.Errorf("%s: maintainer script %s missing or not executable", c.name, s)
					}
				}
				data := t.TempDir()
				sh(t, "dpkg-deb", "-x", c.deb, data)
				f, err := elf.Open(filepath.Join(data, "usr/bin", c.name))
				if err != nil {
					t.Fatal(err)
				}
				if f.Machine != machine {
					t.Errorf("%s is for %v, want %v", c.name, f.Machine, machine)
				}
				for _, p := range f.Progs {
					if p.Type == elf.PT_INTERP {
						t.Errorf("%s is dynamically linked (has an interpreter)", c.name)
					}
				}
				f.Close()
			}
		})
	}
}

// TestDefaultConfigsValidate: the configs the packages install pass the
// daemons' own validation.
func TestDefaultConfigsValidate(t *testing.T) {
	bins := buildBins(t, "amd64")
	for _, c := range [][]string{
		{"polis-edge", "validate", "-config", "files/edge.yaml"},
		{"polis-fleet", "validate", "-config", "files/fleet.yaml"},
	} {
		out, err := exec.Command(filepath.Join(bins, "amd64", c[0]), c[1:]...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ok") {
			t.Errorf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
}

// TestUnitsVerify runs systemd-analyze verify on both units and records
// the offline security exposure score (docs/install.md).
func TestUnitsVerify(t *testing.T) {
	bins := buildBins(t, "amd64")
	for _, unit := range []string{"polis-edge", "polis-fleet"} {
		// verify checks that ExecStart exists: point it at the built binary.
		dir := t.TempDir()
		src, _ := os.ReadFile(filepath.Join("files", unit+".service"))
		fixed := strings.ReplaceAll(string(src), "/usr/bin/"+unit, filepath.Join(bins, "amd64", unit))
		path := filepath.Join(dir, unit+".service")
		os.WriteFile(path, []byte(fixed), 0o644)
		if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
		out, _ := exec.Command("systemd-analyze", "security", "--offline=true", path).CombinedOutput()
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("no exposure score from systemd-analyze security:\n%s", out)
		}
		score, _ := strconv.ParseFloat(m[1], 64)
		t.Logf("%s: systemd-analyze security --offline=true: %s %s", unit, m[1], m[2])
		if score > 2.5 {
			t.Errorf("%s exposure %.1f %s: hardening regressed (docs/install.md lists the expected score)", unit, score, m[2])
		}
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func purge(t *testing.T) {
	exec.Command("dpkg", "--purge", "polis-edge", "polis-fleet").Run()
}

// TestInstallRemovePurge installs the edge package on this machine with
// dpkg, runs the installed binary as its system user, removes the package
// (config and data stay) and purges it (both go, and the user).
func TestInstallRemovePurge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("dpkg -i needs root: run the package tests as root (CI and the dev box do)")
	}
	edgeDeb, _ := makeDebs(t, "amd64")
	purge(t)
	t.Cleanup(func() { purge(t) })

	sh(t, "dpkg", "-i", edgeDeb)
	if got := sh(t, "/usr/bin/polis-edge", "version"); strings.TrimSpace(got) != "polis-edge "+testVersion {
		t.Fatalf("installed binary says %q", got)
	}
	sh(t, "getent", "passwd", "polis-edge")
	if st := sh(t, "stat", "-c", "%U:%G %a", "/var/lib/polis-edge"); strings.TrimSpace(st) != "polis-edge:polis-edge 750" {
		t.Fatalf("/var/lib/polis-edge is %s", st)
	}
	if st := sh(t, "stat", "-c", "%U:%G %a", "/etc/polis/edge.yaml"); strings.TrimSpace(st) != "root:polis-edge 640" {
		t.Fatalf("/etc/polis/edge.yaml is %s", st)
	}
	// The installer's edit: a free port, no uplink yet. It must survive remove.
	conf, _ := os.ReadFile("/etc/polis/edge.yaml")
	edited := strings.Replace(string(conf), `http: {listen: "127.0.0.1:9100"}`, `http: {listen: "127.0.0.1:0"}`, 1) +
		"# edited by the installer\n"
	os.WriteFile("/etc/polis/edge.yaml", []byte(edited), 0o640)
	sh(t, "runuser", "-u", "polis-edge", "--", "/usr/bin/polis-edge", "validate", "-config", "/etc/polis/edge.yaml")
	// Run the daemon as its user until it reports ready (the buffer opens in
	// /var/lib/polis-edge), then stop it as systemd would.
	runInstalled(t)
	if !exists("/var/lib/polis-edge/buffer.db") {
		t.Fatal("the daemon wrote no buffer in /var/lib/polis-edge")
	}

	sh(t, "dpkg", "-r", "polis-edge")
	if exists("/usr/bin/polis-edge") {
		t.Fatal("remove left the binary")
	}
	if b, _ := os.ReadFile("/etc/polis/edge.yaml"); !strings.Contains(string(b), "edited by the installer") {
		t.Fatal("remove lost the edited config")
	}
	if !exists("/var/lib/polis-edge/buffer.db") {
		t.Fatal("remove deleted the buffer")
	}

	sh(t, "dpkg", "-P", "polis-edge")
	for _, p := range []string{"/etc/polis/edge.yaml", "/etc/polis/edge-uplink.secret", "/var/lib/polis-edge"} {
		if exists(p) {
			t.Errorf("purge left %s", p)
		}
	}
	if exec.Command("getent", "passwd", "polis-edge").Run() == nil {
		t.Error("purge left the polis-edge user")
	}
}

func runInstalled(t *testing.T) {
	t.Helper()
	sock := testserver.Notify(t)
	// The daemon runs as polis-edge: let it reach root's socket.
	os.Chmod(filepath.Dir(sock.Path), 0o755)
	os.Chmod(sock.Path, 0o666)
	cmd := exec.Command("/usr/bin/polis-edge", "-config", "/etc/polis/edge.yaml")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(t, "polis-edge")}
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock.Path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if m := sock.Next(t, 60*time.Second); m != "READY=1" {
		t.Fatalf("installed daemon sent %q\n%s", m, stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM) // what systemctl stop sends
	if err := cmd.Wait(); err != nil {
		t.Fatalf("installed daemon exit: %v\n%s", err, stderr.String())
	}
}

// credential runs a child as the package's system user, as systemd's User= would.
func credential(t *testing.T, name string) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
