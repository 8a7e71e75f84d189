package web

import (
	"encoding/json"
	"testing"
)

// verifyBody is a typical POST /v1/verify body, the one a gateway-rate
// caller sends on every request.
var verifyBody = []byte(`{"key":"acme_sk_live_Fq3bY0r2lJ7sWm9kXc4vT1nHd8pEa6uZ5gQ0yRtLbN2xCw7_3kP9sQ","apps":["6b10c3f2e4a5b6c7d8e9f0a1"],"permissions":["orders.read"],"ip":"203.0.113.7"}`)

func BenchmarkCheckStrict(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := checkStrict(verifyBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshal is what DecodeObject did before checkStrict, for scale.
func BenchmarkUnmarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(verifyBody, &obj); err != nil {
			b.Fatal(err)
		}
	}
}
