# Latchkey: the commands the README gives. `make test` is what CI runs.

.PHONY: run test test-deps test-go test-fuzz test-e2e test-readme bench bench-load soak

# Start the server on 127.0.0.1:8080 with an embedded SQLite store in ./data.
run:
	go run ./cmd/latchkey serve

# Every test: go vet, staticcheck and govulncheck (both pinned in go.mod's
# tool block; govulncheck only where its database can be reached), the Go
# unit and integration tests (race detector on, a short soak among them),
# every fuzz target for a few seconds, then the end-to-end suite that drives
# the real binary with the official npm clients, installed from the
# committed lock file, and last every code block of the README (and
# docs/CLI.md) run as printed. What a fresh Debian machine lacks is
# installed first (scripts/test-deps).
test: test-deps test-go test-fuzz test-e2e test-readme

test-deps:
	./scripts/test-deps

test-go:
	go vet ./...
	go tool staticcheck ./...
	./scripts/vulncheck
	go test -race -count=1 ./...

# Each fuzz target for FUZZTIME (default 4s); a failure's input is saved
# under testdata/fuzz, where it becomes a regression test of go test.
test-fuzz:
	./scripts/fuzz

test-e2e:
	cd tests/e2e && npm ci --no-audit --no-fund && npm test

# Every code block of the README and docs/CLI.md, as printed, in a fresh
# temporary copy of the repository: shell blocks in one bash session per
# document against the server its Quick start starts on 127.0.0.1:8080
# (which must be free), scripts with node and the npm packages tests/e2e
# installed (so it runs after test-e2e), Go, TOML and nginx blocks
# compiled or loaded; a block that cannot run here must say why with a
# marker, and any other block fails. See internal/tools/readmecheck.
test-readme:
	go run ./internal/tools/readmecheck README.md $(wildcard docs/CLI.md)

# Benchmarks of the hot path and of durable writes; see docs/BENCHMARKS.md.
bench:
	go test -run '^$$' -bench . -benchmem -count 5 ./auth/ ./httpapi/web/ ./store/sqlite/

# Load benchmarks over HTTP, about two and a half minutes: GET /v1/authorize against a
# bare net/http handler, nginx with the shipped configuration against nginx
# without auth_request, and verification while keys are created. Needs
# nginx; on two CPUs or more, taskset keeps the load generator off the
# servers' CPU. See docs/BENCHMARKS.md. Pass flags with
# BENCH_LOAD_FLAGS='-rounds 5' (latchkey-bench all -h lists them).
BENCH_LOAD_FLAGS ?=
bench-load:
	@bin=$$(mktemp -d) && trap 'rm -rf "$$bin"' EXIT && \
	go build -o "$$bin/latchkey" ./cmd/latchkey && \
	go build -o "$$bin/latchkey-bench" ./cmd/latchkey-bench && \
	"$$bin/latchkey-bench" all -latchkey-bin "$$bin/latchkey" $(BENCH_LOAD_FLAGS)

# A soak: steady mixed load (verifications with valid, unknown and
# rate-limited keys; management) on the real server for SOAK_DURATION,
# reporting throughput, errors (must be 0), p99, and memory, goroutines and
# open files at the start and the end. See docs/BENCHMARKS.md.
SOAK_DURATION ?= 30m
soak:
	@bin=$$(mktemp -d) && trap 'rm -rf "$$bin"' EXIT && \
	go build -o "$$bin/latchkey" ./cmd/latchkey && \
	go build -o "$$bin/latchkey-bench" ./cmd/latchkey-bench && \
	"$$bin/latchkey-bench" soak -latchkey-bin "$$bin/latchkey" -duration $(SOAK_DURATION)

# latchkey import of 100,000 keys into a fresh Latchkey, then again (every
# key skipped), against the same keys made one at a time through POST
# /v1/keys, and the cost of an imported key's first verification: on SQLite,
# then on PostgreSQL if its server binaries are installed. 12 to 25
# minutes on two CPUs. See docs/BENCHMARKS.md. Pass flags with
# BENCH_IMPORT_FLAGS='-rounds 5' (latchkey-bench import -h lists them).
BENCH_IMPORT_FLAGS ?=
.PHONY: bench-import
bench-import:
	@bin=$$(mktemp -d) && trap 'rm -rf "$$bin"' EXIT && \
	go build -o "$$bin/latchkey" ./cmd/latchkey && \
	go build -o "$$bin/latchkey-bench" ./cmd/latchkey-bench && \
	"$$bin/latchkey-bench" import -latchkey-bin "$$bin/latchkey" $(BENCH_IMPORT_FLAGS)
