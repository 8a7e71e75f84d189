package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/metrics"
)

// The Grafana dashboard is valid JSON, takes its data source as the
// variable DS_PROMETHEUS, and queries only families that exist.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/latchkey.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title      string
			Datasource struct{ UID string }
			Targets    []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	m.WatchCache(&cacheStats{})
	m.WatchUsage(&flushStats{})
	m.WatchFleet(&syncAge{})
	m.ObserveRequest("GET /x", "GET", 200, time.Millisecond) // so that the vectors have series
	m.InstrumentStore(fakeStore{})
	m.Verified(latchkey.CodeValid)
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, f := range families {
		known[f.GetName()] = true
	}
	name := regexp.MustCompile(`\b(latchkey|go|process)_[a-z_]+`)
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}
	for _, p := range d.Panels {
		if p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("%s: data source %q", p.Title, p.Datasource.UID)
		}
		for _, target := range p.Targets {
			for _, n := range name.FindAllString(target.Expr, -1) {
				base := strings.TrimSuffix(n, "_bucket")
				if !known[base] {
					t.Errorf("%s: %s is no family", p.Title, n)
				}
			}
		}
	}
}
