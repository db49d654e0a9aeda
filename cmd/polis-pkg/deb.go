package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// pkg describes one Debian package.
type pkg struct {
	name, binary, description string
	unit                      string   // systemd unit file in files/
	configs                   []string // conffiles: files/<src> → /etc/polis/<dst>
	scripts                   string   // files/<prefix>.postinst, .prerm, .postrm
	dir                       string
}

func packages(dir string) []pkg {
	return []pkg{
		{
			name: "polis-edge", binary: "polis-edge", dir: dir,
			description: "Polis Edge office daemon\n" +
				" Reads the office's inverters and meters (Modbus/SunSpec), chargers\n" +
				" (OCPP 1.6J/2.0.1) and sensors and lockers (MQTT), keeps every sample in a\n" +
				" durable buffer and sends it to polis-fleet.",
			unit: "polis-edge.service", configs: []string{"edge.yaml", "edge-uplink.secret"}, scripts: "edge",
		},
		{
			name: "polis-fleet", binary: "polis-fleet", dir: dir,
			description: "Polis Fleet central service\n" +
				" MQTT broker for the offices, ingest into InfluxDB, office registry,\n" +
				" alarms, HTTP API and dashboard.",
			unit: "polis-fleet.service", configs: []string{"fleet.yaml"}, scripts: "fleet",
		},
	}
}

// debArch maps GOARCH to Debian's name (GOARM=7 builds are Debian's armhf).
func debArch(goarch string) (string, error) {
	switch goarch {
	case "amd64", "arm64":
		return goarch, nil
	case "arm":
		return "armhf", nil
	}
	return "", fmt.Errorf("no Debian architecture for GOARCH %q", goarch)
}

func build(p pkg, version, goarch, binDir, outDir string) (string, error) {
	arch, err := debArch(goarch)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(binDir, p.binary)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("binary: %w", err)
	}
	src := func(name string) string { return filepath.Join(p.dir, name) }
	contents := files.Contents{
		{Source: bin, Destination: "/usr/bin/" + p.binary, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		{Source: src(p.unit), Destination: "/lib/systemd/system/" + p.unit, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
	}
	for _, c := range p.configs {
		// config|noreplace: a conffile dpkg never overwrites once edited.
		contents = append(contents, &files.Content{Source: src(c), Destination: "/etc/polis/" + c,
			Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o640}})
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name: p.name, Arch: arch, Platform: "linux", Version: version, VersionSchema: "none",
		Section: "net", Priority: "optional", Maintainer: "Polis Edge <polis-edge@example.org>",
		Description: p.description, Vendor: "Polis", Homepage: "https://github.com/polis-edge/polis",
		License: "Proprietary",
		Overridables: nfpm.Overridables{
			Depends:  []string{"adduser"},
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: src(p.scripts + ".postinst"),
				PreRemove:   src(p.scripts + ".prerm"),
				PostRemove:  src(p.scripts + ".postrm"),
			},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	if err := nfpm.Validate(info); err != nil {
		return "", err
	}
	packager, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	path := filepath.Join(outDir, fmt.Sprintf("%s_%s_%s.deb", p.name, version, arch))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := packager.Package(info, f); err != nil {
		f.Close()
		return "", fmt.Errorf("package: %w", err)
	}
	return path, f.Close()
}
