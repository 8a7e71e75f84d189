# Latchkey: the commands the README gives. `make test` is what CI runs.

.PHONY: run test test-deps test-go test-e2e bench bench-load

# Start the server on 127.0.0.1:8080 with an embedded SQLite store in ./data.
run:
	go run ./cmd/latchkey serve

# Every test: go vet, the Go unit and integration tests (race detector on),
# then the end-to-end suite that drives the real binary with the official
# npm clients, installed from the committed lock file. What a fresh Debian
# machine lacks is installed first (scripts/test-deps).
test: test-deps test-go test-e2e

test-deps:
	./scripts/test-deps

test-go:
	go vet ./...
	go test -race -count=1 ./...

test-e2e:
	cd tests/e2e && npm ci --no-audit --no-fund && npm test

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
