// Command polis-pkg builds the Debian packages of polis-edge and polis-fleet
// with nFPM (github.com/goreleaser/nfpm/v2, as a library): no hand-built
// archives, one description per package in Go, the unit files, default
// configs and maintainer scripts beside it in files/. `make dist` runs it.
//
//	polis-pkg -version 0.1.42 -bins dist/bin -out dist [-files cmd/polis-pkg/files] [-arch amd64,arm64,arm]
//
// -bins holds <goarch>/polis-edge and <goarch>/polis-fleet (static builds).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("polis-pkg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "Debian package version (e.g. 0.1.42+g0a163d0)")
	bins := fs.String("bins", "dist/bin", "directory with <goarch>/polis-edge and <goarch>/polis-fleet")
	out := fs.String("out", "dist", "directory for the .deb files")
	filesDir := fs.String("files", "cmd/polis-pkg/files", "unit files, default configs, maintainer scripts")
	arches := fs.String("arch", "amd64,arm64,arm", "Go architectures to package")
	only := fs.String("only", "", "build only this package (polis-edge or polis-fleet)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version == "" {
		fmt.Fprintln(stderr, "polis-pkg: -version is required")
		return 2
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "polis-pkg:", err)
		return 1
	}
	for _, goarch := range strings.Split(*arches, ",") {
		for _, p := range packages(*filesDir) {
			if *only != "" && p.name != *only {
				continue
			}
			path, err := build(p, *version, goarch, filepath.Join(*bins, goarch), *out)
			if err != nil {
				fmt.Fprintf(stderr, "polis-pkg: %s %s: %v\n", p.name, goarch, err)
				return 1
			}
			fmt.Fprintln(stdout, path)
		}
	}
	return 0
}
