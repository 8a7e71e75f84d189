package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/secret"
)

// BenchmarkCreateKeysPostgres measures durable key creation through the
// native API (POST /v1/keys: a new secret, sealed, committed to PostgreSQL
// with synchronous_commit on, and logged for the other nodes), with one
// node and with two nodes sharing the database, 16 requests in flight in
// all. Everything runs on this machine: PostgreSQL (started by the test),
// the nodes, and the clients. It reports keys/s.
//
//	go test -run '^$' -bench CreateKeysPostgres -benchtime 3000x -count 5 ./cmd/latchkey/
func BenchmarkCreateKeysPostgres(b *testing.B) {
	for _, nodes := range []int{1, 2} {
		b.Run(map[int]string{1: "one node", 2: "two nodes"}[nodes], func(b *testing.B) {
			dsn := pgtest.DSN(b)
			getenv := env(map[string]string{"LATCHKEY_DB": dsn, "LATCHKEY_MASTER_KEY": secret.NewMasterKey()})
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), []string{"bootstrap"}, getenv, &stdout, &stderr); err != nil {
				b.Fatalf("bootstrap: %v\n%s", err, stderr.String())
			}
			var admin credentials
			if err := json.Unmarshal(stdout.Bytes(), &admin); err != nil {
				b.Fatal(err)
			}
			var bases []string
			for range nodes {
				base, _, _ := startServe(b, getenv)
				bases = append(bases, base)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			var next atomic.Int64
			b.SetParallelism(8) // 16 goroutines on this 2-CPU machine
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					base := bases[next.Add(1)%int64(len(bases))]
					req, _ := http.NewRequest("POST", base+"/v1/keys", strings.NewReader(`{"name":"bench","permissions":["orders.read"]}`))
					req.Header.Set("Authorization", "Bearer "+admin.Secret)
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						b.Errorf("POST /v1/keys: %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}
