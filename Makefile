# Polis Edge. `make demo` runs the whole system, `make test` runs what CI runs.
GO      ?= go
TOOLS   := $(CURDIR)/.tools/bin
INFLUXD := $(TOOLS)/influxd
NATSD   := $(TOOLS)/nats-server
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# polis-edge and polis-sim read main.version; polis-fleet reports fleet.Version.
LDFLAGS := -X main.version=$(VERSION) -X github.com/polis-edge/polis/fleet.Version=$(VERSION)

# Tests and the demo find the project-local InfluxDB through this variable.
export POLIS_INFLUXD := $(INFLUXD)

.PHONY: build test bench demo tools system-deps vet fmt-check clean fuzz fuzz-run dist

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

# Release builds: static (CGO off) binaries for the boxes we ship on, with the
# version stamped in both daemons, and Debian packages built by cmd/polis-pkg
# with nFPM. DEB_VERSION sorts by commit count so upgrades go forward.
DIST         := dist
DIST_ARCHES  := amd64 arm64 arm
DIST_LDFLAGS := -s -w -X main.version=$(VERSION) -X github.com/polis-edge/polis/fleet.Version=$(VERSION)
DEB_VERSION  := 0.1.$(shell git rev-list --count HEAD 2>/dev/null || echo 0)+g$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

dist:
	@for arch in $(DIST_ARCHES); do \
	  echo "building linux/$$arch"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOARM=7 $(GO) build -trimpath -ldflags "$(DIST_LDFLAGS)" \
	    -o $(DIST)/bin/$$arch/ ./cmd/polis-edge ./cmd/polis-fleet || exit 1; \
	done
	$(GO) run ./cmd/polis-pkg -version $(DEB_VERSION) -bins $(DIST)/bin -out $(DIST) -arch $$(echo $(DIST_ARCHES) | tr ' ' ,)

# Everything the tests and the demo need, installed by the project itself:
# InfluxDB 1.8.10 and nats-server 2.15.2 (the fleet's cluster mode) built from
# the module proxy into .tools/, and Debian's mosquitto (external-broker tests)
# and socat (RS485 over a pseudo-terminal); the npm package ocpp-rpc (pinned)
# into .tools/node_modules: the OCPP tests' independent station, validating
# every frame against the official schemas.
OCPP_RPC := $(CURDIR)/.tools/node_modules/ocpp-rpc/package.json

tools: $(INFLUXD) $(NATSD) system-deps $(OCPP_RPC)

$(OCPP_RPC): | system-deps
	npm install --prefix $(CURDIR)/.tools --no-save --no-audit --no-fund ocpp-rpc@2.2.1

$(INFLUXD):
	@echo "building InfluxDB 1.8.10 into $(TOOLS) (first time only, about 3 minutes)"
	GOBIN=$(TOOLS) $(GO) install github.com/influxdata/influxdb/cmd/influxd@v1.8.10

$(NATSD):
	@echo "building nats-server 2.15.2 into $(TOOLS) (first time only, about a minute)"
	GOBIN=$(TOOLS) $(GO) install github.com/nats-io/nats-server/v2@v2.15.2

system-deps:
	@missing=""; \
	for pair in mosquitto:mosquitto socat:socat chromium:chromium node:nodejs npm:npm; do \
	  bin=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$bin >/dev/null 2>&1 || [ -x /usr/sbin/$$bin ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: tools vet fmt-check
	$(GO) test -race -count=1 -timeout 30m ./...
	@$(MAKE) --no-print-directory fuzz-run FUZZTIME=$(FUZZTIME_SHORT)

# Fuzzing: every Fuzz* function in the repo, found afresh each run (a new
# one is picked up without editing this file). `make test` gives each a few
# seconds; `make fuzz` runs each for FUZZTIME. A crasher is written to the
# package's testdata/fuzz/<Fuzz name>/: fix it and commit the file.
# `make test` counts executions rather than seconds: with a duration, Go 1.26's
# coordinator can report its own deadline as a failure (golang/go#75804, fixed
# in 1.27) on a busy machine, and a count has no deadline to race.
FUZZTIME       ?= 2m
FUZZTIME_SHORT ?= 20000x

fuzz:
	@$(MAKE) --no-print-directory fuzz-run FUZZTIME=$(FUZZTIME)

fuzz-run:
	@set -e; \
	for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go); do \
	    echo "fuzz $$dir $$fn for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done

# Benchmarks with real peers; figures go to docs/benchmarks.md. The `bench`
# build tag holds the long multi-process ones out of the normal suite.
bench: tools
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...
	$(GO) test -tags bench -run TestBench50Devices -v -timeout 10m ./protocols/modbus/ | grep -v '^=== '
	$(GO) test -tags bench -run '^$$' -bench HundredChargePoints -benchtime 1x -timeout 10m ./protocols/ocpp/
	$(GO) test -run '^$$' -bench Cycle -benchtime 2000x ./rules/
	# The fleet at full size (7,000 simulated offices; POLIS_BENCH_OFFICES changes it) at the
	# settings docs/deployment.md gives such a fleet (uplink.qos 0, live_interval 5s), and the NATS cluster scale-out.
	POLIS_BENCH_QOS=0 POLIS_BENCH_FLUSH=5s $(GO) test -tags bench -run 'TestBenchFleetAtFullSize' -v -timeout 60m ./fleet/
	$(GO) test -tags bench -run 'TestBenchNATSClusterScaleOut' -v -timeout 60m ./fleet/
	# Each fleet instance as its own process held to 0.05 of a core (a cgroup quota): what a
	# second instance on a machine of its own adds (needs root; docs/benchmarks.md).
	POLIS_BENCH_INSTANCE_CPU=0.05 $(GO) test -tags bench -run 'TestBenchNATSClusterScaleOut' -v -timeout 60m ./fleet/

demo: tools
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/polis-demo

clean:
	rm -rf bin .demo $(DIST)
