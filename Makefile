# Latchkey: the commands the README gives. `make test` is what CI runs.

.PHONY: run test test-deps test-go test-e2e bench

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
