# govmm: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/staticcheck)
# Guest tests boot the test host (QEMU TCG + nested KVM): give them time.
TEST_TIMEOUT ?= 75m

.PHONY: all build setup demo test lint fuzz unit guest bench bootbench clean

all: build

build:
	$(GO) build -o bin/govmm ./cmd/govmm

setup:
	./scripts/setup.sh

# Boot a stock Debian kernel under govmm (inside the test host when the
# machine's /dev/kvm cannot run Linux guests) and show its console.
demo: setup
	$(GO) run ./tests/cmd/govmm-demo

lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...

# Everything CI runs: lint, a short run of every fuzz target, then every test
# (unit, fuzz seeds, and the guest
# tests in ./tests, which are not skipped) under the race detector.
test: setup lint fuzz
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -v ./... 2>&1 | tee test.log; \
	rc=$${PIPESTATUS[0]}; \
	echo "$$(grep -c -- '--- PASS' test.log) passed, $$(grep -c -- '--- FAIL' test.log) failed, $$(grep -c -- '--- SKIP' test.log) skipped"; \
	exit $$rc

unit:
	$(GO) test -race -short ./...

guest:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -v ./tests/...

# Every fuzz target for FUZZTIME (default 50000 executions each).
fuzz:
	./scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./iovatree ./notifier ./devices/vtd

clean:
	rm -rf bin test.log

# govmm vs QEMU boot time in one test-host run (see BENCHMARKS.md).
bootbench:
	$(MAKE) -C tests bootbench
