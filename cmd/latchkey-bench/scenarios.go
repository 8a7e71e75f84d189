package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// options are the command line's settings.
type options struct {
	duration, warmup time.Duration
	rounds           int
	conc             int
	rate             float64
	keys             int
	cred             string
	createsPerSec    float64
	latchkeyBin      string
	latchkeyURL      string
	adminKey         string
	dataDir          string
	nginxBin         string
	nginxConf        string
	gatewayOpenLoop  bool
	pin              pinning
}

// benchKey is a key the benchmark made, with its secret.
type benchKey struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// rig is what the scenarios run against: the bare handler, Latchkey with
// its keys, and (for gateway) nginx.
type rig struct {
	opts  *options
	work  string // logs and nginx's files
	bare  *process
	lk    *process // nil when -latchkey-url is given
	lkURL string   // Latchkey's base URL
	admin string   // an account key's secret, for making keys
	keys  []benchKey
	nginx *process
	// out is where the report goes.
	out io.Writer
}

func (r *rig) latchkeyAddr() string { return strings.TrimPrefix(r.lkURL, "http://") }

// serverPIDs are the processes whose CPU time counts as the server side.
func (r *rig) serverPIDs() []int {
	var pids []int
	for _, p := range []*process{r.bare, r.lk, r.nginx} {
		if p != nil {
			pids = append(pids, p.pid())
		}
	}
	return pids
}

func (r *rig) close() {
	r.nginx.stop()
	r.lk.stop()
	r.bare.stop()
}

// progress reports what the benchmark is doing, on stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "latchkey-bench: "+format+"\n", args...)
}

// setup starts the bare handler and Latchkey (or uses -latchkey-url),
// makes the keys and warms them all.
func setup(ctx context.Context, o *options, out io.Writer) (*rig, error) {
	work, err := os.MkdirTemp("", "latchkey-bench-")
	if err != nil {
		return nil, err
	}
	r := &rig{opts: o, work: work, out: out}
	ok := false
	defer func() {
		if !ok {
			r.close()
			os.RemoveAll(work)
		}
	}()
	if r.bare, err = startBare(o.pin); err != nil {
		return nil, err
	}
	if o.latchkeyURL != "" {
		u, err := url.Parse(o.latchkeyURL)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return nil, fmt.Errorf("-latchkey-url %q: want http://host:port", o.latchkeyURL)
		}
		if !loopback(u.Hostname()) {
			return nil, fmt.Errorf("-latchkey-url %q: load goes to 127.0.0.1 only", o.latchkeyURL)
		}
		r.lkURL = "http://" + u.Host
		if r.admin = o.adminKey; r.admin == "" {
			return nil, errors.New("-latchkey-url needs an account key's secret, in -admin-key or LATCHKEY_BENCH_ADMIN_KEY")
		}
	} else {
		dir := o.dataDir
		if dir == "" {
			dir = filepath.Join(work, "data")
		}
		bin := o.latchkeyBin
		if bin == "" {
			if bin, err = buildLatchkey(ctx, work); err != nil {
				return nil, err
			}
		}
		if r.lk, err = startLatchkey(o.pin, bin, dir, work); err != nil {
			return nil, err
		}
		r.lkURL = "http://" + r.lk.addr
		b, err := os.ReadFile(filepath.Join(dir, "initial-credentials.json"))
		if err != nil {
			return nil, fmt.Errorf("read Latchkey's first account key: %w", err)
		}
		var creds struct{ Secret string }
		if err := json.Unmarshal(b, &creds); err != nil || creds.Secret == "" {
			return nil, fmt.Errorf("read Latchkey's first account key: %v", err)
		}
		r.admin = creds.Secret
	}
	progress("bare handler on %s (pid %d), Latchkey on %s", r.bare.addr, r.bare.pid(), r.lkURL)
	if err := r.seed(ctx); err != nil {
		return nil, err
	}
	if err := r.warmKeys(); err != nil {
		return nil, err
	}
	ok = true
	return r, nil
}

func loopback(host string) bool {
	return host == "127.0.0.1" || host == "localhost" || host == "::1"
}

// keysFile is where the keys made in a -data-dir are kept, so that a rerun
// on the same directory reuses them.
const keysFile = "bench-keys.json"

// seed makes -keys keys through POST /v1/keys, a few at a time (each is a
// durable commit), unless -data-dir already has them.
func (r *rig) seed(ctx context.Context) error {
	n := r.opts.keys
	path := ""
	if r.opts.dataDir != "" && r.lk != nil {
		path = filepath.Join(r.opts.dataDir, keysFile)
		if b, err := os.ReadFile(path); err == nil {
			if err := json.Unmarshal(b, &r.keys); err == nil && len(r.keys) >= n {
				r.keys = r.keys[:n]
				progress("reusing %d keys from %s", n, path)
				return nil
			}
		}
	}
	progress("making %d keys through POST /v1/keys", n)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	keys := make([]benchKey, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				k, err := createKey(ctx, client, r.lkURL, r.admin, fmt.Sprintf("bench key %d", i))
				if err != nil {
					errc <- err
					next.Store(int64(n))
					return
				}
				keys[i] = k
				if (i+1)%2000 == 0 {
					progress("  %d keys", i+1)
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	progress("made %d keys in %v", n, time.Since(start).Round(100*time.Millisecond))
	r.keys = keys
	if path != "" {
		b, _ := json.Marshal(keys)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// createKey makes one key with the native API.
func createKey(ctx context.Context, client *http.Client, base, admin, name string) (benchKey, error) {
	body, _ := json.Marshal(map[string]string{"name": name})
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/keys", bytes.NewReader(body))
	if err != nil {
		return benchKey{}, err
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return benchKey{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var k benchKey
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &k) != nil || k.ID == "" || k.Secret == "" {
		return benchKey{}, fmt.Errorf("POST /v1/keys: %d %s", resp.StatusCode, b)
	}
	return k, nil
}

// credHeader is the header line that presents k, in the -cred form.
func credHeader(form string, k benchKey) string {
	switch form {
	case "basic":
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(k.ID+":"+k.Secret))
	case "x-api-key":
		return "X-API-Key: " + k.Secret
	default:
		return "Authorization: Bearer " + k.Secret
	}
}

// requests builds one GET of path to addr for each key.
func (r *rig) requests(addr, path string) [][]byte {
	reqs := make([][]byte, len(r.keys))
	for i, k := range r.keys {
		reqs[i] = getRequest(addr, path, credHeader(r.opts.cred, k))
	}
	return reqs
}

// warmKeys verifies every key once, so that each is in the verifier's
// cache before anything is measured, and fails unless each is valid.
func (r *rig) warmKeys() error {
	progress("verifying each key once (warming Latchkey's cache)")
	reqs := r.requests(r.latchkeyAddr(), "/v1/authorize")
	var next atomic.Int64
	var failed atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range r.opts.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newConn(r.latchkeyAddr())
			defer c.close()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				status, err := c.do(reqs[i])
				if err != nil || status != 200 {
					failed.Add(1)
					first.CompareAndSwap(nil, fmt.Sprintf("key %s: status %d, %v", r.keys[i].ID, status, err))
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d keys did not verify; first: %v", n, len(reqs), first.Load())
	}
	return nil
}

// truncateLog empties Latchkey's request log between runs, so that a long
// benchmark does not fill the disk. Latchkey appends to it, so it carries
// on at the new end.
func (r *rig) truncateLog() {
	if r.lk != nil {
		os.Truncate(r.lk.log, 0)
	}
}

// run is one measured run, with the CPU time of the servers noted.
func (r *rig) run(fn func() *result) *result {
	res := measure(r.serverPIDs(), fn)
	r.truncateLog()
	return res
}

// pair is what the A/B rounds of a comparison measured: A the baseline,
// B the subject, one result of each per round.
type pair struct {
	a, b []*result
}

// abRounds runs the baseline then the subject, -rounds times, after a
// warm-up of each.
func (r *rig) abRounds(ctx context.Context, label string, a, b func() *result) (*pair, error) {
	p := &pair{}
	for round := 1; round <= r.opts.rounds; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ra := r.run(a)
		progress("%s round %d: baseline %s", label, round, ra.summary())
		rb := r.run(b)
		progress("%s round %d: subject  %s", label, round, rb.summary())
		p.a, p.b = append(p.a, ra), append(p.b, rb)
	}
	return p, nil
}

func (res *result) summary() string {
	l := res.hist.latencies()
	s := fmt.Sprintf("%.0f req/s, p50 %s, p99 %s, max %s; CPU: server %.0f%% (%s/req), load generator %.0f%%, others %.0f%%, machine idle %.0f%%, steal %.0f%%",
		res.throughput(), fmtDur(l.p50), fmtDur(l.p99), fmtDur(l.max), 100*res.cpu.server, fmtDur(res.cpu.serverPerReq),
		100*res.cpu.client, 100*res.cpu.others, 100*res.cpu.idle, 100*res.cpu.steal)
	if lag := res.lag.quantile(0.99); res.lag.n > 0 {
		s += fmt.Sprintf(", dispatcher lag p99 %s", fmtDur(lag))
	}
	if len(res.slowest) > 0 {
		parts := make([]string, len(res.slowest))
		for i, d := range res.slowest {
			parts[i] = fmtDur(d)
		}
		s += "; slowest answer in each second: " + strings.Join(parts, ", ")
	}
	if res.failures > 0 {
		s += fmt.Sprintf(", %d FAILED (first: %s)", res.failures, res.firstFailure)
	}
	if res.unsent > 0 {
		s += fmt.Sprintf(", %d UNSENT", res.unsent)
	}
	return s
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func each(rs []*result, f func(*result) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func medianOf(rs []*result, f func(*result) float64) float64 { return median(each(rs, f)) }

func medianDur(rs []*result, f func(*result) time.Duration) time.Duration {
	return time.Duration(medianOf(rs, func(r *result) float64 { return float64(f(r)) }))
}

func failures(rs ...[]*result) int64 {
	var n int64
	for _, list := range rs {
		for _, r := range list {
			n += r.failures + r.unsent
		}
	}
	return n
}

// throughputTable prints the rounds of a closed-loop comparison and their
// medians, and returns the ratio of the medians, B over A.
func (r *rig) throughputTable(p *pair, nameA, nameB string) float64 {
	w := r.out
	fmt.Fprintf(w, "| round | %s req/s | %s req/s | ratio |\n|---:|---:|---:|---:|\n", nameA, nameB)
	var ratios []float64
	for i := range p.a {
		ta, tb := p.a[i].throughput(), p.b[i].throughput()
		ratios = append(ratios, tb/ta)
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.3f |\n", i+1, ta, tb, tb/ta)
	}
	ma := medianOf(p.a, (*result).throughput)
	mb := medianOf(p.b, (*result).throughput)
	sort.Float64s(ratios)
	fmt.Fprintf(w, "| **median** | **%.0f** | **%.0f** | **%.3f** |\n\n", ma, mb, mb/ma)
	fmt.Fprintf(w, "Ratio of the medians %.3f; per-round ratios from %.3f to %.3f.\n\n", mb/ma, ratios[0], ratios[len(ratios)-1])
	r.cpuTable(p, nameA, nameB)
	return mb / ma
}

// cpuTable prints where the CPU went: whether the servers or the load
// generator were the limit.
func (r *rig) cpuTable(p *pair, nameA, nameB string) {
	w := r.out
	fmt.Fprintf(w, "| medians | p50 | p99 | server CPU | server CPU per request | load generator CPU | other processes' CPU |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, side := range []struct {
		name string
		rs   []*result
	}{{nameA, p.a}, {nameB, p.b}} {
		fmt.Fprintf(w, "| %s | %s | %s | %.0f%% | %s | %.0f%% | %.0f%% |\n", side.name,
			fmtDur(medianDur(side.rs, func(x *result) time.Duration { return x.hist.quantile(0.5) })),
			fmtDur(medianDur(side.rs, func(x *result) time.Duration { return x.hist.quantile(0.99) })),
			100*medianOf(side.rs, func(x *result) float64 { return x.cpu.server }),
			fmtDur(medianDur(side.rs, func(x *result) time.Duration { return x.cpu.serverPerReq })),
			100*medianOf(side.rs, func(x *result) float64 { return x.cpu.client }),
			100*medianOf(side.rs, func(x *result) float64 { return x.cpu.others }))
	}
	fmt.Fprintln(w)
	if len(r.serverPIDs()) > 0 {
		ca := medianDur(p.a, func(x *result) time.Duration { return x.cpu.serverPerReq })
		cb := medianDur(p.b, func(x *result) time.Duration { return x.cpu.serverPerReq })
		if ca > 0 {
			fmt.Fprintf(w, "Server CPU time per request, %s over %s: %.2f times. (CPU percentages are of one core; "+
				"\"other processes\" is what the machine spent on neither side, such as other users' jobs.)\n\n", nameB, nameA, float64(cb)/float64(ca))
		}
	}
	if n := failures(p.a, p.b); n > 0 {
		fmt.Fprintf(w, "**Warning: %d requests failed or were not sent; the figures above are not valid.**\n\n", n)
	}
}

// latencyTable prints the open-loop rounds' latency medians.
func (r *rig) latencyTable(p *pair, nameA, nameB string, rate float64) {
	w := r.out
	fmt.Fprintf(w, "Open loop at %.0f req/s, %d connections; medians of %d runs each (worst run's p99 in brackets):\n\n",
		rate, r.opts.conc, len(p.a))
	fmt.Fprintf(w, "| | achieved req/s | p50 | p90 | p99 | max | dispatcher lag p99 | server CPU |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, side := range []struct {
		name string
		rs   []*result
	}{{nameA, p.a}, {nameB, p.b}} {
		q := func(f float64) func(*result) time.Duration {
			return func(x *result) time.Duration { return x.hist.quantile(f) }
		}
		var worst time.Duration
		for _, x := range side.rs {
			worst = max(worst, x.hist.quantile(0.99))
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s (%s) | %s | %s | %.0f%% |\n", side.name,
			medianOf(side.rs, (*result).throughput),
			fmtDur(medianDur(side.rs, q(0.5))), fmtDur(medianDur(side.rs, q(0.9))),
			fmtDur(medianDur(side.rs, q(0.99))), fmtDur(worst),
			fmtDur(medianDur(side.rs, func(x *result) time.Duration { return time.Duration(x.hist.max) })),
			fmtDur(medianDur(side.rs, func(x *result) time.Duration { return x.lag.quantile(0.99) })),
			100*medianOf(side.rs, func(x *result) float64 { return x.cpu.server }))
	}
	fmt.Fprintln(w)
	if n := failures(p.a, p.b); n > 0 {
		fmt.Fprintf(w, "**Warning: %d requests failed or were not sent; the figures above are not valid.**\n\n", n)
	}
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**not met**"
}

// warm runs a closed loop for -warmup, unmeasured.
func (r *rig) warm(t target) {
	if r.opts.warmup > 0 {
		closedLoop(t, r.opts.conc, r.opts.warmup)
		r.truncateLog()
	}
}

// authorize compares GET /v1/authorize with a valid key against the bare
// handler: throughput in a closed loop, then latency in an open loop at
// half of Latchkey's throughput.
func (r *rig) authorize(ctx context.Context) error {
	o := r.opts
	bare := target{name: "bare", addr: r.bare.addr, reqs: r.requests(r.bare.addr, "/v1/authorize")}
	lk := target{name: "latchkey", addr: r.latchkeyAddr(), reqs: r.requests(r.latchkeyAddr(), "/v1/authorize")}
	r.warm(bare)
	r.warm(lk)
	p, err := r.abRounds(ctx, "authorize closed loop",
		func() *result { return closedLoop(bare, o.conc, o.duration) },
		func() *result { return closedLoop(lk, o.conc, o.duration) })
	if err != nil {
		return err
	}
	w := r.out
	fmt.Fprintf(w, "### authorize: GET /v1/authorize with a valid key, %d keys, against a bare net/http handler\n\n", len(r.keys))
	fmt.Fprintf(w, "Closed loop, %d keep-alive connections, %v per run, each request with the next of the %d keys:\n\n",
		o.conc, o.duration, len(r.keys))
	ratio := r.throughputTable(p, "bare handler", "Latchkey")
	fmt.Fprintf(w, "Target: Latchkey's throughput ≥ 80%% of the bare handler's: %.0f%%, %s.\n\n", 100*ratio, verdict(ratio >= 0.8))

	rate := o.rate
	if rate <= 0 {
		rate = medianOf(p.b, (*result).throughput) / 2
	}
	q, err := r.abRounds(ctx, fmt.Sprintf("authorize open loop at %.0f req/s", rate),
		func() *result { return openLoop(bare, o.conc, rate, o.duration) },
		func() *result { return openLoop(lk, o.conc, rate, o.duration) })
	if err != nil {
		return err
	}
	r.latencyTable(q, "bare handler", "Latchkey", rate)
	p99 := medianDur(q.b, func(x *result) time.Duration { return x.hist.quantile(0.99) })
	fmt.Fprintf(w, "Target: Latchkey's p99 < 2 ms at half its throughput: %s, %s.\n\n", fmtDur(p99), verdict(p99 < 2*time.Millisecond))
	return nil
}

// gateway compares nginx with the shipped configuration (auth_request to
// Latchkey) against the same nginx proxying to the same API without it.
func (r *rig) gateway(ctx context.Context) error {
	o := r.opts
	if r.lk == nil {
		return errors.New("gateway needs the Latchkey this program starts: nginx must be told its address (drop -latchkey-url)")
	}
	bin, err := findNginx(o.nginxBin)
	if err != nil {
		return err
	}
	dir := filepath.Join(r.work, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var gw, plain string
	if r.nginx, gw, plain, err = startNginx(o.pin, bin, o.nginxConf, dir, r.latchkeyAddr(), r.bare.addr); err != nil {
		return err
	}
	progress("nginx: the shipped configuration on %s, the plain proxy on %s", gw, plain)
	withAuth := target{name: "nginx + Latchkey", addr: gw, reqs: r.requests(gw, "/api/items")}
	without := target{name: "nginx", addr: plain, reqs: r.requests(plain, "/api/items")}
	// The gateway must refuse a request without a key, or it is not
	// asking Latchkey.
	c := newConn(gw)
	status, err := c.do(getRequest(gw, "/api/items"))
	c.close()
	if err != nil || status != 401 {
		return fmt.Errorf("nginx with the shipped configuration answered a request without a key with %d (%v), want 401", status, err)
	}
	r.warm(without)
	r.warm(withAuth)
	p, err := r.abRounds(ctx, "gateway closed loop",
		func() *result { return closedLoop(without, o.conc, o.duration) },
		func() *result { return closedLoop(withAuth, o.conc, o.duration) })
	if err != nil {
		return err
	}
	w := r.out
	fmt.Fprintf(w, "### gateway: nginx with deploy/nginx/latchkey.conf in front of an API, against the same nginx and API without auth_request\n\n")
	fmt.Fprintf(w, "Closed loop, %d keep-alive connections, %v per run, each request with the next of the %d keys:\n\n",
		o.conc, o.duration, len(r.keys))
	ratio := r.throughputTable(p, "nginx → API", "nginx → Latchkey, API")
	fmt.Fprintf(w, "With auth_request, nginx serves %.0f%% of the requests per second it serves without.\n\n", 100*ratio)
	if o.gatewayOpenLoop {
		rate := medianOf(p.b, (*result).throughput) / 2
		q, err := r.abRounds(ctx, fmt.Sprintf("gateway open loop at %.0f req/s", rate),
			func() *result { return openLoop(without, o.conc, rate, o.duration) },
			func() *result { return openLoop(withAuth, o.conc, rate, o.duration) })
		if err != nil {
			return err
		}
		r.latencyTable(q, "nginx → API", "nginx → Latchkey, API", rate)
	}
	return nil
}

// churn compares warm verification throughput without and with keys being
// created at -creates-per-sec through the native API.
func (r *rig) churn(ctx context.Context) error {
	o := r.opts
	lk := target{name: "latchkey", addr: r.latchkeyAddr(), reqs: r.requests(r.latchkeyAddr(), "/v1/authorize")}
	r.warm(lk)
	var created, failed []int64
	var rates []float64
	p, err := r.abRounds(ctx, "churn",
		func() *result { return closedLoop(lk, o.conc, o.duration) },
		func() *result {
			stop := make(chan struct{})
			done := make(chan [2]int64, 1)
			start := time.Now()
			go func() {
				c, f := r.createAtRate(ctx, o.createsPerSec, stop)
				done <- [2]int64{c, f}
			}()
			res := closedLoop(lk, o.conc, o.duration)
			close(stop)
			cf := <-done
			created, failed = append(created, cf[0]), append(failed, cf[1])
			rates = append(rates, float64(cf[0])/time.Since(start).Seconds())
			return res
		})
	if err != nil {
		return err
	}
	w := r.out
	fmt.Fprintf(w, "### churn: warm verification while keys are created at %.0f per second\n\n", o.createsPerSec)
	fmt.Fprintf(w, "Closed loop on GET /v1/authorize, %d keep-alive connections, %v per run, %d warm keys; "+
		"in the subject runs, another goroutine creates keys through POST /v1/keys on a schedule of its own:\n\n",
		o.conc, o.duration, len(r.keys))
	ratio := r.throughputTable(p, "no creations", fmt.Sprintf("%.0f creations/s", o.createsPerSec))
	fmt.Fprintf(w, "Keys created per subject run: %v (failed: %v); achieved creation rates: %s per second.\n\n",
		created, failed, fmtRates(rates))
	// What the creations cost the server by themselves, with no other load.
	// Latchkey writes the usage counts of the keys used in the last runs
	// within its flush interval (5 s), one row per key: that costs much
	// more CPU than the creations, so let it pass first.
	if r.lk != nil {
		progress("waiting 6.5 s for Latchkey's usage flush, then creating keys alone")
		if err := waitContext(ctx, 6500*time.Millisecond); err != nil {
			return err
		}
		stop := make(chan struct{})
		var made int64
		res := measure([]int{r.lk.pid()}, func() *result {
			start := time.Now()
			go func() { time.Sleep(o.duration); close(stop) }()
			made, _ = r.createAtRate(ctx, o.createsPerSec, stop)
			return &result{requests: made, elapsed: time.Since(start)}
		})
		r.truncateLog()
		fmt.Fprintf(w, "Creations alone, without verification load: %d keys in %v took %.1f%% of a core in Latchkey, %s of CPU per key created.\n\n",
			made, o.duration, 100*res.cpu.server, fmtDur(res.cpu.serverPerReq))
	}
	fmt.Fprintf(w, "Target: throughput with creations within 10%% of without: %.1f%%, %s.\n\n", 100*ratio, verdict(ratio >= 0.9))
	return nil
}

func fmtRates(rs []float64) string {
	parts := make([]string, len(rs))
	for i, x := range rs {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(parts, ", ")
}

// createAtRate creates keys on a fixed schedule of rate per second, at
// most 4 at once, until stop is closed; it returns how many were created
// and how many failed.
func (r *rig) createAtRate(ctx context.Context, rate float64, stop <-chan struct{}) (created, failed int64) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	var c, f atomic.Int64
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case <-stop:
			wg.Wait()
			return c.Load(), f.Load()
		case <-ctx.Done():
			wg.Wait()
			return c.Load(), f.Load()
		case <-time.After(time.Until(start.Add(time.Duration(i) * interval))):
		}
		select {
		case sem <- struct{}{}:
		case <-stop:
			wg.Wait()
			return c.Load(), f.Load()
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := createKey(ctx, client, r.lkURL, r.admin, fmt.Sprintf("churn key %d", i)); err != nil {
				f.Add(1)
				return
			}
			c.Add(1)
		}(i)
	}
}

// environment prints what the figures were measured on.
func (r *rig) environment() {
	w := r.out
	model, cpus := "unknown", 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			name, value, ok := strings.Cut(line, ":")
			switch name = strings.TrimSpace(name); {
			case !ok:
			case name == "processor":
				cpus++
			case name == "model name" && model == "unknown":
				model = strings.TrimSpace(value)
			}
		}
	}
	nginxVersion := "not found"
	if bin, err := findNginx(r.opts.nginxBin); err == nil {
		if out, err := exec.Command(bin, "-v").CombinedOutput(); err == nil {
			nginxVersion = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: "))
		}
	}
	pin := "none (servers and load generator share every CPU)"
	if r.opts.pin.taskset != "" {
		pin = fmt.Sprintf("servers on CPU %s, load generator on CPU %s (taskset; GOMAXPROCS follows: load generator %d)",
			r.opts.pin.server, r.opts.pin.client, runtime.GOMAXPROCS(0))
	}
	fmt.Fprintf(w, "Measured %s on %d CPUs (%q), %s, nginx %s.\n", time.Now().Format("2006-01-02 15:04 MST"),
		cpus, model, runtime.Version(), nginxVersion)
	fmt.Fprintf(w, "Pinning: %s. Runs of %v, %d rounds of baseline then subject, %d connections, credential form %s.\n\n",
		pin, r.opts.duration, r.opts.rounds, r.opts.conc, r.opts.cred)
}
