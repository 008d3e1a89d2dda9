# Fluent Bit plugins for DigiCert CertCentral audit logs → Google SecOps.
# `make build` builds both plugins into build/; `make test` runs every test,
# starting a local S3 server (versitygw) when S3_ENDPOINT is not already set.

GO          ?= go
BUILD       ?= build
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X github.com/digicert-secops/fluent-bit-digicert/digicert.Version=$(VERSION)
S3BIN_DIR   ?= $(HOME)/.cache/s3bin
VERSITYGW   ?= $(S3BIN_DIR)/versitygw
VGW_VERSION := v1.8.0
STATICCHECK_VERSION := v0.8.2
STATICCHECK ?= $(HOME)/.cache/go-tools/staticcheck-$(STATICCHECK_VERSION)/staticcheck

export CGO_ENABLED := 1

.PHONY: all build test unit bench lint fmt clean versitygw run staticcheck

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
	PLUGIN_DIR=$(CURDIR)/$(BUILD) VERSITYGW_BIN=$(VERSITYGW) ./test/run-with-s3 $(GO) test -count=1 -timeout 12m ./...

unit:
	$(GO) test -count=1 ./digicert/... ./plugin/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./digicert/ ./plugin/...

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
	rm -rf $(BUILD)

# run: the pipeline natively (simulator + versitygw + local Fluent Bit).
run: build versitygw
	./test/run-local
