# Fluent Bit plugins for DigiCert CertCentral audit logs → Google SecOps.
# `make build` builds both plugins into build/; `make test` runs every test,
# starting a local S3 server (versitygw) when S3_ENDPOINT is not already set.

GO          ?= go
BUILD       ?= build
# The release version lives in VERSION and nowhere else: the plugins, the
# simulator, the archives and the SBOMs all take it from there.
VERSION     ?= $(shell cat $(CURDIR)/VERSION)
LDFLAGS     := -s -w -X github.com/digicert-secops/fluent-bit-digicert/digicert.Version=$(VERSION)
S3BIN_DIR   ?= $(HOME)/.cache/s3bin
VERSITYGW   ?= $(S3BIN_DIR)/versitygw
VGW_VERSION := v1.8.0
STATICCHECK_VERSION := v0.8.2
STATICCHECK ?= $(HOME)/.cache/go-tools/staticcheck-$(STATICCHECK_VERSION)/staticcheck

export CGO_ENABLED := 1

.PHONY: all build test soak unit bench bench-fluentbit lint fmt clean versitygw run staticcheck

all: build

build: $(BUILD)/in_digicert.so $(BUILD)/out_secops_s3.so $(BUILD)/digicert-sim

$(BUILD)/in_digicert.so: FORCE
	$(GO) build -trimpath -buildmode=c-shared -ldflags '$(LDFLAGS)' -o $@ ./plugin/in_digicert

$(BUILD)/out_secops_s3.so: FORCE
	$(GO) build -trimpath -buildmode=c-shared -ldflags '$(LDFLAGS)' -o $@ ./plugin/out_secops_s3

$(BUILD)/digicert-sim: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/digicert-sim

FORCE:

# The S3 server the integration tests use; installed once into ~/.cache/s3bin.
versitygw: $(VERSITYGW)
$(VERSITYGW):
	GOFLAGS=-modcacherw GOBIN=$(S3BIN_DIR) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VGW_VERSION)

# test: everything, with the plugins built once and shared by the tests.
# test/run-with-s3 starts versitygw unless S3_ENDPOINT is already set.
test: build versitygw
	@rm -f $(BUILD)/fault-table.txt
	@rc=0; PLUGIN_DIR=$(CURDIR)/$(BUILD) VERSITYGW_BIN=$(VERSITYGW) FAULT_TABLE=$(CURDIR)/$(BUILD)/fault-table.txt \
		./test/run-with-s3 $(GO) test -count=1 -timeout 12m ./... || rc=$$?; \
		cat $(BUILD)/fault-table.txt 2>/dev/null; exit $$rc

# soak: the fault suite with its long cases (S3 away for 5 minutes, every
# S3 error an operator can fix); prints the table.
soak: build versitygw
	PLUGIN_DIR=$(CURDIR)/$(BUILD) VERSITYGW_BIN=$(VERSITYGW) FAULT_SOAK=1 \
		./test/run-with-s3 $(GO) test -count=1 -timeout 30m -v -run '^(TestFaultSuite|TestHostFaultKill)$$' ./test/integration/

unit:
	$(GO) test -count=1 ./digicert/... ./internal/... ./plugin/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./digicert/ ./internal/...

# bench-fluentbit: the whole pipeline inside real Fluent Bit (FLUENT_BIT_BIN),
# backfill and steady state of a 1,000,000-row report, and the limit of a
# trivial Go input (docs/benchmarks.md). Extra flags: BENCHFB_FLAGS="-runs 5".
bench-fluentbit:
	@if [ -z "$$FLUENT_BIT_BIN" ]; then \
	  echo "bench-fluentbit: skipped: set FLUENT_BIT_BIN=/path/to/fluent-bit (5.1 or newer)"; \
	else \
	  $(MAKE) --no-print-directory build versitygw && \
	  $(GO) run ./test/benchfb -plugins $(BUILD) -versitygw $(VERSITYGW) $(BENCHFB_FLAGS); \
	fi

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# staticcheck, pinned, from the Go module proxy; installed once by make lint.
staticcheck: $(STATICCHECK)
$(STATICCHECK):
	GOFLAGS=-modcacherw GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BUILD) $(DIST)

# run: the pipeline natively (simulator + versitygw + local Fluent Bit).
run: build versitygw
	./test/run-local

# ---- Releases -------------------------------------------------------------
# `make dist`: dist/fluent-bit-digicert-$(VERSION)-linux-{amd64,arm64}.tar.gz,
# a CycloneDX SBOM beside each, and dist/SHA256SUMS (scripts/dist).
# A foreign architecture cross-compiles with Debian's cross gcc
# (gcc-aarch64-linux-gnu for arm64, gcc-x86-64-linux-gnu for amd64).
DIST              ?= dist
DIST_ARCHES       ?= amd64 arm64
GOHOSTARCH        := $(shell $(GO) env GOHOSTARCH)
CROSS_CC_amd64    ?= x86_64-linux-gnu-gcc
CROSS_CC_arm64    ?= aarch64-linux-gnu-gcc
dist_cc            = $(if $(filter $(1),$(GOHOSTARCH)),cc,$(CROSS_CC_$(1)))
TOOLS_DIR         ?= $(HOME)/.cache/fluent-bit-digicert-tools
CYCLONEDX_VERSION := v1.10.0
CYCLONEDX         ?= $(TOOLS_DIR)/cyclonedx-gomod-$(CYCLONEDX_VERSION)/cyclonedx-gomod
# qemu-user runs the arm64 C host and plugins on an amd64 machine.
QEMU_ARM64        ?= qemu-aarch64 -L /usr/aarch64-linux-gnu

# build-linux-% is not .PHONY: make does not search pattern rules for phony targets.
.PHONY: dist test-arm64 test-dist cyclonedx

dist: $(addprefix build-linux-,$(DIST_ARCHES)) $(CYCLONEDX)
	VERSION=$(VERSION) BUILD=$(BUILD) DIST=$(DIST) CYCLONEDX=$(CYCLONEDX) GO=$(GO) ./scripts/dist $(DIST_ARCHES)

# build-linux-ARCH: the three artifacts into $(BUILD)/linux-ARCH.
build-linux-%: FORCE
	@command -v $(call dist_cc,$*) >/dev/null || { echo "no C compiler $(call dist_cc,$*) for linux/$*: apt-get install gcc-$(subst amd64,x86-64,$(subst arm64,aarch64,$*))-linux-gnu"; exit 1; }
	GOOS=linux GOARCH=$* CC=$(call dist_cc,$*) $(MAKE) --no-print-directory build BUILD=$(BUILD)/linux-$*

cyclonedx: $(CYCLONEDX)
$(CYCLONEDX):
	GOFLAGS=-modcacherw GOBIN=$(dir $@) $(GO) install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_VERSION)

# test-dist: checks what `make dist` made (contents, checksums, SBOMs, ELF
# architecture, glibc symbol versions).
test-dist: dist
	DIST_DIR=$(CURDIR)/$(DIST) DIST_VERSION=$(VERSION) DIST_ARCHES="$(DIST_ARCHES)" $(GO) test -count=1 -run 'Dist' ./test/release

# test-arm64: the arm64 plugins in the C host built for arm64, under qemu-user,
# with the host tests of test/integration, and the arm64 glibc check.
# Without the cross compiler or qemu it skips, except in CI (CI=true).
# TestArm64RunCoversEveryHostTest checks that this selects every test that starts the host.
ARM64_TESTS := ^(TestHost|TestDigicertHost|TestS3OutHost|TestABIMirrors|TestFluentBitABI|TestGlibc|TestVersion)
test-arm64: versitygw
	@if ! command -v $(CROSS_CC_arm64) >/dev/null || ! command -v $(firstword $(QEMU_ARM64)) >/dev/null; then \
	  msg="test-arm64: needs $(CROSS_CC_arm64) and $(firstword $(QEMU_ARM64)) (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)"; \
	  if [ -n "$$CI" ]; then echo "$$msg" >&2; exit 1; fi; echo "SKIP $$msg"; exit 0; fi; \
	$(MAKE) --no-print-directory build-linux-arm64 && \
	PLUGIN_DIR=$(CURDIR)/$(BUILD)/linux-arm64 PLUGIN_GOARCH=arm64 HOST_CC=$(CROSS_CC_arm64) HOST_WRAPPER="$(QEMU_ARM64)" \
	  VERSITYGW_BIN=$(VERSITYGW) ./test/run-with-s3 $(GO) test -count=1 -timeout 12m -run '$(ARM64_TESTS)' ./test/integration ./test/release
