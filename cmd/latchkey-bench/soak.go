package main

// latchkey-bench soak: sustained mixed load against a real server for a
// long time, to find what short benchmarks cannot: memory or goroutines
// that grow, answers that go wrong after a while, errors that come once in
// a hundred thousand requests.
//
// It starts the latchkey binary on a fresh data directory (SQLite) with
// --debug-addr on loopback, makes an app, a verifier key (VerifyKey) in it,
// -keys keys with the permission orders.read, and a few keys with a small
// rate limit, all through the native API. Then it sends, in an open loop at
// -rate requests per second over -conc keep-alive connections:
//
//	40%  POST /v1/verify with a valid key            expect VALID, its keyId
//	30%  GET /v1/authorize with a valid key          expect 200, its X-Latchkey-Key-Id
//	20%  POST /v1/verify with an unknown secret      expect NOT_FOUND (well formed,
//	                                                 half of them never seen before)
//	10%  POST /v1/verify with a rate-limited key     expect VALID or RATE_LIMITED
//
// and, beside it, -mgmt-rate management cycles per second: create a key,
// verify it, PATCH it, roll it (no grace period), verify the old secret
// (NOT_FOUND) and the new (VALID), delete it, verify it (NOT_FOUND); every
// 10th cycle also lists the app's keys a page of 100 at a time and checks
// that every key that existed throughout is listed exactly once.
//
// Any other answer, a 5xx, or a transport error counts as an error. So does
// a rate-limited key admitted more often than its limit allows over the
// whole run. Latency is measured from the moment a request was due (open
// loop), so a stalled server shows in it.
//
// Before the measured run, a warm-up runs the same load for -warmup (its
// errors are reported too). The server's memory and goroutines are sampled
// at the start of the measured run and at its end, each time with the load
// paused, the load generator's idle connections closed and a garbage
// collection forced (GET /debug/pprof/heap?gc=1), so that the two samples
// are comparable: RSS and peak RSS from /proc/PID/status, the live Go heap
// and the goroutine count from expvar's /debug/vars, open file descriptors
// from /proc/PID/fd, and the database's size. Samples are also taken every
// -sample-every while the load runs, to show a trend.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/secret"
)

// soakOptions are soak's settings.
type soakOptions struct {
	latchkeyBin string
	duration    time.Duration
	warmup      time.Duration
	rate        float64 // verify and authorize requests per second, all kinds together
	conc        int
	mgmtRate    float64 // management cycles per second
	keys        int
	// prefillUnknown is how many never-seen unknown secrets are verified
	// before the warm-up, to fill the server's bounded memory of unknown
	// secrets (10,000), so that the start sample sees it full.
	prefillUnknown int
	sampleEvery    time.Duration
	jsonPath       string
	// profileDir, if set, receives the server's goroutine dump, heap
	// profile and open files at the start and at the end.
	profileDir string
	// quiet: no progress lines on stderr (the test).
	quiet bool
}

func parseSoakOptions(args []string) (*soakOptions, error) {
	fs := newFlagSet("soak")
	o := &soakOptions{}
	fs.StringVar(&o.latchkeyBin, "latchkey-bin", "", "the latchkey binary (default: go build ./cmd/latchkey, from the repository's root); it must know --debug-addr")
	fs.DurationVar(&o.duration, "duration", 30*time.Minute, "length of the measured run")
	fs.DurationVar(&o.warmup, "warmup", 30*time.Second, "the same load before the measured run, not in its figures")
	fs.Float64Var(&o.rate, "rate", 400, "verify and authorize requests per second, all four kinds together (open loop)")
	fs.IntVar(&o.conc, "conc", 16, "keep-alive connections for verify and authorize")
	fs.Float64Var(&o.mgmtRate, "mgmt-rate", 2, "management cycles per second (create, verify, patch, roll, verify twice, delete, verify; a list of every page each 10th cycle)")
	fs.IntVar(&o.keys, "keys", 1000, "valid keys that verify and authorize go round")
	fs.IntVar(&o.prefillUnknown, "prefill-unknown", 12000, "unknown secrets verified once before the warm-up, to fill the server's memory of unknown secrets")
	fs.DurationVar(&o.sampleEvery, "sample-every", time.Minute, "how often to sample the server's memory and goroutines while the load runs")
	fs.StringVar(&o.jsonPath, "json", "", "also write the report as JSON to this file (\"-\": to stdout, instead of the tables)")
	fs.StringVar(&o.profileDir, "profiles", "", "save the server's goroutine dump, heap profile and open files at the start and the end in this directory "+
		"(compare with go tool pprof -base start-heap.pb.gz LATCHKEY-BIN end-heap.pb.gz)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, o.check()
}

func (o *soakOptions) check() error {
	switch {
	case o.duration <= 0 || o.duration > 7*24*time.Hour:
		return fmt.Errorf("-duration %v: want more than 0 and at most a week", o.duration)
	case o.warmup < 0:
		return fmt.Errorf("-warmup %v: want 0 or more", o.warmup)
	case o.rate < 1 || o.rate > 100000:
		return fmt.Errorf("-rate %v: want 1 to 100000", o.rate)
	case o.conc < 1 || o.conc > 1000:
		return fmt.Errorf("-conc %d: want 1 to 1000", o.conc)
	case o.mgmtRate <= 0 || o.mgmtRate > 1000:
		return fmt.Errorf("-mgmt-rate %v: want more than 0 and at most 1000", o.mgmtRate)
	case o.keys < 1 || o.keys > 100000:
		return fmt.Errorf("-keys %d: want 1 to 100000", o.keys)
	case o.prefillUnknown < 0 || o.prefillUnknown > 1000000:
		return fmt.Errorf("-prefill-unknown %d: want 0 to 1000000", o.prefillUnknown)
	case o.sampleEvery < time.Second:
		return fmt.Errorf("-sample-every %v: want 1s or more", o.sampleEvery)
	}
	return nil
}

// The kinds of request, each reported on its own.
const (
	kindVerifyValid = iota
	kindAuthorize
	kindVerifyUnknown
	kindVerifyLimited
	kindCreate
	kindPatch
	kindRoll
	kindDelete
	kindList
	kindVerifyChurned
	numKinds
)

var kindNames = [numKinds]string{
	"verify, valid key", "authorize, valid key", "verify, unknown key", "verify, rate-limited key",
	"create key", "patch key", "roll key", "delete key", "list keys (a page)", "verify, churned key",
}

// hotMix is how the open loop's requests are shared among the kinds: ten
// slots, in turn.
var hotMix = [10]int{
	kindVerifyValid, kindAuthorize, kindVerifyValid, kindVerifyUnknown, kindAuthorize,
	kindVerifyValid, kindVerifyLimited, kindAuthorize, kindVerifyValid, kindVerifyUnknown,
}

// The rate-limited keys: each is sent about limitedPerKey verifications a
// second, against a limit of limitedLimit per limitedPeriod, so that about
// half are refused.
const (
	limitedLimit  = 5
	limitedPeriod = time.Second
	limitedPerKey = 10.0
)

// listEvery: one management cycle in this many also lists every page.
const listEvery = 10

// The kinds of error.
const (
	errTransport  = "transport"
	errServer     = "5xx"
	errUnexpected = "unexpected answer"
)

// kindStats is what one kind of request saw in a phase.
type kindStats struct {
	mu       sync.Mutex
	hist     histogram
	requests int64
	errs     map[string]int64 // by kind of error
	answers  map[string]int64 // the answers that were as expected, by code
	samples  []string         // the first errors, described
}

func (k *kindStats) ok(lat time.Duration, answer string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.requests++
	k.hist.record(lat)
	if k.answers == nil {
		k.answers = map[string]int64{}
	}
	k.answers[answer]++
}

// fail counts an error; lat < 0 when the request was not answered. what
// never holds a secret.
func (k *kindStats) fail(lat time.Duration, class, what string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.requests++
	if lat >= 0 {
		k.hist.record(lat)
	}
	if k.errs == nil {
		k.errs = map[string]int64{}
	}
	k.errs[class]++
	if len(k.samples) < 5 {
		k.samples = append(k.samples, class+": "+what)
	}
}

// soakStats is what a phase saw.
type soakStats struct {
	kinds [numKinds]kindStats
	// dropped counts open-loop requests not sent because the load
	// generator's queue was full (it could not keep up), mgmtDropped
	// management cycles skipped for the same reason.
	dropped, mgmtDropped atomic.Int64
	cycles               atomic.Int64 // management cycles run
	listWalks            atomic.Int64
}

// soakKey is a key the soak made.
type soakKey struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// soaker is one soak: the server and what was made in it.
type soaker struct {
	o        *soakOptions
	progress func(format string, args ...any)
	work     string
	dataDir  string
	lk       *process
	base     string // http://addr
	debug    string // http://debug addr
	admin    string // the account key's secret
	app      string
	verifier string // the verifier key's secret
	keys     []soakKey
	limited  []soakKey
	stable   map[string]bool // ids of the keys that live for the whole run
	// Bodies of the verify requests, prepared.
	validBodies, limitedBodies [][]byte
	unknownPool                [][]byte
	hot, mgmt, dbg             *http.Client
	hotTr, mgmtTr              *http.Transport
	// limits counts what the rate-limited keys were admitted.
	limits limitTracker
	// next key of each kind
	nextValid, nextAuth, nextUnknown, nextLimited atomic.Uint64
}

type limitTracker struct {
	mu          sync.Mutex
	first, last time.Time
	admitted    []int64
}

func (l *limitTracker) sent(t time.Time) {
	l.mu.Lock()
	if l.first.IsZero() || t.Before(l.first) {
		l.first = t
	}
	l.mu.Unlock()
}

func (l *limitTracker) answered(t time.Time, key int, admitted bool) {
	l.mu.Lock()
	if t.After(l.last) {
		l.last = t
	}
	if admitted {
		l.admitted[key]++
	}
	l.mu.Unlock()
}

// The report.

type soakReport struct {
	Date            string         `json:"date"`
	Machine         soakMachine    `json:"machine"`
	Options         soakOptsJSON   `json:"options"`
	Interrupted     bool           `json:"interrupted,omitempty"`
	ElapsedSeconds  float64        `json:"elapsedSeconds"`
	Kinds           []kindReport   `json:"kinds"`
	Total           kindReport     `json:"total"`
	WarmupRequests  int64          `json:"warmupRequests"`
	WarmupErrors    int64          `json:"warmupErrors"`
	WarmupSamples   []string       `json:"warmupErrorSamples,omitempty"`
	Dropped         int64          `json:"droppedRequests"`
	MgmtDropped     int64          `json:"droppedMgmtCycles"`
	Cycles          int64          `json:"mgmtCycles"`
	ListWalks       int64          `json:"listWalks"`
	RateLimit       rateLimitJSON  `json:"rateLimit"`
	Start           serverSample   `json:"start"`
	End             serverSample   `json:"end"`
	Samples         []serverSample `json:"samples"`
	ServerLogErrors int            `json:"serverLogErrors"`
	ServerLogWarns  int            `json:"serverLogWarnings"`
	ServerLogFirst  string         `json:"serverLogFirstError,omitempty"`
	EndSampleError  string         `json:"endSampleError,omitempty"`
	// TotalErrors is every error of the warm-up and of the measured run,
	// with a broken rate limit: what must be 0.
	TotalErrors int64 `json:"totalErrors"`
}

type soakMachine struct {
	CPUs      int    `json:"cpus"`
	Model     string `json:"model"`
	Go        string `json:"go"`
	LoadStart string `json:"loadAverageAtStart"`
	LoadEnd   string `json:"loadAverageAtEnd"`
}

type soakOptsJSON struct {
	Duration       string  `json:"duration"`
	Warmup         string  `json:"warmup"`
	Rate           float64 `json:"rate"`
	Conc           int     `json:"conc"`
	MgmtRate       float64 `json:"mgmtRate"`
	Keys           int     `json:"keys"`
	LimitedKeys    int     `json:"rateLimitedKeys"`
	PrefillUnknown int     `json:"prefillUnknown"`
}

type kindReport struct {
	Kind         string           `json:"kind"`
	Requests     int64            `json:"requests"`
	PerSecond    float64          `json:"perSecond"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errorsByKind,omitempty"`
	Answers      map[string]int64 `json:"answers,omitempty"`
	P50ms        float64          `json:"p50ms"`
	P99ms        float64          `json:"p99ms"`
	Maxms        float64          `json:"maxms"`
	ErrorSamples []string         `json:"errorSamples,omitempty"`
	hist         histogram
}

type rateLimitJSON struct {
	Keys     int    `json:"keys"`
	Limit    int    `json:"limit"`
	Period   string `json:"period"`
	Admitted int64  `json:"admitted"`
	// Bound is the most the limits allow over the whole time the keys
	// were used, all keys together; WorstKey the highest share of its
	// own bound any key reached.
	Bound    int64   `json:"bound"`
	WorstKey float64 `json:"worstKeyShareOfBound"`
	Broken   int     `json:"keysOverBound"`
}

// serverSample is the server's state at one moment.
type serverSample struct {
	AtSeconds  float64 `json:"atSeconds"` // since the measured run began
	Quiesced   bool    `json:"quiesced"`  // taken with the load paused and connections closed
	RSS        int64   `json:"rssBytes"`
	RSSPeak    int64   `json:"rssPeakBytes"`
	HeapAlloc  int64   `json:"heapLiveBytes"` // HeapAlloc just after a forced GC
	HeapInuse  int64   `json:"heapInuseBytes"`
	HeapSys    int64   `json:"heapSysBytes"`
	Sys        int64   `json:"goSysBytes"`
	NumGC      int64   `json:"numGC"`
	Goroutines int     `json:"goroutines"`
	FDs        int     `json:"openFiles"`
	DBBytes    int64   `json:"databaseBytes"`
}

// runSoak is the soak subcommand.
func runSoak(args []string) error {
	o, err := parseSoakOptions(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.latchkeyBin == "" {
		dir, err := os.MkdirTemp("", "latchkey-soak-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if o.latchkeyBin, err = buildLatchkey(ctx, dir); err != nil {
			return err
		}
	}
	rep, err := soak(ctx, o)
	if err != nil {
		return err
	}
	if o.jsonPath != "-" {
		rep.print(os.Stdout)
	}
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		b = append(b, '\n')
		if o.jsonPath == "-" {
			os.Stdout.Write(b)
		} else if err := os.WriteFile(o.jsonPath, b, 0o644); err != nil {
			return err
		}
	}
	if rep.TotalErrors > 0 {
		return fmt.Errorf("%d errors", rep.TotalErrors)
	}
	return nil
}

// soak runs one soak and returns its report. The report is returned even
// with errors in it; err is for a soak that could not run.
func soak(ctx context.Context, o *soakOptions) (*soakReport, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	s := &soaker{o: o, progress: progress}
	if o.quiet {
		s.progress = func(string, ...any) {}
	}
	var err error
	if s.work, err = os.MkdirTemp("", "latchkey-soak-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(s.work)
	s.dataDir = filepath.Join(s.work, "data")
	s.hotTr = &http.Transport{MaxIdleConnsPerHost: o.conc, MaxConnsPerHost: o.conc, IdleConnTimeout: 60 * time.Second, DisableCompression: true}
	s.mgmtTr = &http.Transport{MaxIdleConnsPerHost: 4, MaxConnsPerHost: 4, IdleConnTimeout: 60 * time.Second, DisableCompression: true}
	s.hot = &http.Client{Timeout: 30 * time.Second, Transport: s.hotTr}
	s.mgmt = &http.Client{Timeout: 30 * time.Second, Transport: s.mgmtTr}
	s.dbg = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer s.hotTr.CloseIdleConnections()
	defer s.mgmtTr.CloseIdleConnections()

	rep := &soakReport{Date: time.Now().UTC().Format(time.RFC3339), Machine: machineInfo()}
	if err := s.startServer(); err != nil {
		return nil, err
	}
	defer s.lk.stop()
	if err := s.setup(ctx); err != nil {
		return nil, err
	}
	rep.Options = soakOptsJSON{Duration: o.duration.String(), Warmup: o.warmup.String(), Rate: o.rate, Conc: o.conc,
		MgmtRate: o.mgmtRate, Keys: o.keys, LimitedKeys: len(s.limited), PrefillUnknown: o.prefillUnknown}

	if o.warmup > 0 {
		s.progress("soak: warm-up, %v at %.0f requests/s and %.1f management cycles/s", o.warmup, o.rate, o.mgmtRate)
		warm := &soakStats{}
		s.runLoad(ctx, o.warmup, warm, nil)
		for i := range warm.kinds {
			k := &warm.kinds[i]
			rep.WarmupRequests += k.requests
			for _, n := range k.errs {
				rep.WarmupErrors += n
			}
			rep.WarmupSamples = append(rep.WarmupSamples, k.samples...)
		}
		if rep.WarmupErrors > 0 {
			s.progress("soak: %d errors in the warm-up; first: %s", rep.WarmupErrors, rep.WarmupSamples[0])
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if rep.Start, err = s.sample(ctx, true, 0); err != nil {
		return nil, err
	}
	s.progress("soak: start: %s", rep.Start.summary())
	rep.Samples = append(rep.Samples, rep.Start)

	st := &soakStats{}
	began := time.Now()
	var samplesMu sync.Mutex
	onTick := func() {
		smp, err := s.sample(ctx, false, time.Since(began))
		if err != nil {
			s.progress("soak: sample: %v", err)
			return
		}
		samplesMu.Lock()
		rep.Samples = append(rep.Samples, smp)
		samplesMu.Unlock()
		var n, e int64
		for i := range st.kinds {
			k := &st.kinds[i]
			k.mu.Lock()
			n += k.requests
			for _, c := range k.errs {
				e += c
			}
			k.mu.Unlock()
		}
		s.progress("soak: %v of %v: %d requests, %d errors; %s", time.Since(began).Round(time.Second), o.duration, n, e, smp.summary())
	}
	s.progress("soak: measured run, %v", o.duration)
	elapsed := s.runLoad(ctx, o.duration, st, onTick)
	rep.ElapsedSeconds = elapsed.Seconds()
	rep.Interrupted = ctx.Err() != nil
	// The end sample, with the context of its own: an interrupted soak
	// still reports.
	endCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if rep.End, err = s.sample(endCtx, true, elapsed); err != nil {
		// The server may have died: report what was seen, and this.
		rep.EndSampleError = err.Error()
	} else {
		rep.Samples = append(rep.Samples, rep.End)
	}
	rep.Machine.LoadEnd = loadAverage()

	// The figures.
	secs := elapsed.Seconds()
	for i := range st.kinds {
		kr := st.kinds[i].report(kindNames[i], secs)
		rep.Kinds = append(rep.Kinds, kr)
		rep.Total.Requests += kr.Requests
		rep.Total.Errors += kr.Errors
		rep.Total.hist.merge(&kr.hist)
		for c, n := range kr.ErrorsByKind {
			if rep.Total.ErrorsByKind == nil {
				rep.Total.ErrorsByKind = map[string]int64{}
			}
			rep.Total.ErrorsByKind[c] += n
		}
	}
	rep.Total.Kind = "total"
	rep.Total.PerSecond = float64(rep.Total.Requests) / secs
	rep.Total.setLatencies()
	rep.Dropped, rep.MgmtDropped = st.dropped.Load(), st.mgmtDropped.Load()
	rep.Cycles, rep.ListWalks = st.cycles.Load(), st.listWalks.Load()
	rep.RateLimit = s.limitReport()
	rep.ServerLogErrors, rep.ServerLogWarns, rep.ServerLogFirst = s.scanLog()
	rep.TotalErrors = rep.WarmupErrors + rep.Total.Errors + int64(rep.RateLimit.Broken)
	if rep.EndSampleError != "" {
		rep.TotalErrors++
	}
	return rep, nil
}

// startServer runs `latchkey serve` on free loopback ports, its debug
// listener too, with its data in a new directory, and waits until it says
// where it listens.
func (s *soaker) startServer() error {
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(s.work, "latchkey.log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	p := &process{name: "latchkey", log: logPath, cmd: pinning{}.command(s.o.latchkeyBin, "serve", "--addr", "127.0.0.1:0",
		"--db", "sqlite:"+filepath.Join(s.dataDir, "latchkey.db"), "--debug-addr", "127.0.0.1:0")}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.exited:
			return fmt.Errorf("latchkey exited at start (does it know --debug-addr?): %v\n%s", err, p.tail())
		case <-time.After(20 * time.Millisecond):
		}
		b, _ := os.ReadFile(logPath)
		var addr, debug string
		for _, line := range strings.Split(string(b), "\n") {
			for _, field := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(field, "debug_addr="); ok {
					debug = v
				} else if v, ok := strings.CutPrefix(field, "addr="); ok && strings.Contains(line, "msg=listening") {
					addr = v
				}
			}
		}
		if addr != "" && debug != "" {
			p.addr = addr
			s.lk, s.base, s.debug = p, "http://"+addr, "http://"+debug
			s.progress("soak: Latchkey (pid %d) on %s, its debug listener on %s, data in %s", p.pid(), addr, debug, s.dataDir)
			return nil
		}
	}
	p.stop()
	return fmt.Errorf("latchkey did not start within 60 s\n%s", p.tail())
}

// call sends one request and reads the whole answer.
func call(ctx context.Context, client *http.Client, method, url, bearer string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, resp.Header, b, err
}

// snippet is the start of an error answer's body, for reports. Only
// answers that are not 2xx are shown: a 2xx answer may hold a secret.
func snippet(status int, b []byte) string {
	if status/100 == 2 {
		return fmt.Sprintf("status %d", status)
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("status %d %s", status, s)
}

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// setup makes the app, the verifier, the keys, and fills the memory of
// unknown secrets.
func (s *soaker) setup(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(s.dataDir, "initial-credentials.json"))
	if err != nil {
		return fmt.Errorf("read Latchkey's first account key: %w", err)
	}
	var creds struct{ Secret string }
	if err := json.Unmarshal(b, &creds); err != nil || creds.Secret == "" {
		return fmt.Errorf("read Latchkey's first account key: %v", err)
	}
	s.admin = creds.Secret

	status, _, body, err := call(ctx, s.mgmt, "POST", s.base+"/v1/apps", s.admin, jsonBody(map[string]any{"name": "soak"}))
	var app struct{ ID string }
	if err != nil || status != 201 || json.Unmarshal(body, &app) != nil || app.ID == "" {
		return fmt.Errorf("POST /v1/apps: %v %s", err, snippet(status, body))
	}
	s.app = app.ID
	owner := map[string]any{"type": "app", "id": s.app}
	v, err := s.createKey(ctx, s.mgmt, map[string]any{"name": "soak verifier", "owner": owner, "permissions": []string{"VerifyKey"}})
	if err != nil {
		return err
	}
	s.verifier = v.Secret
	s.stable = map[string]bool{v.ID: true}

	nLimited := max(1, int(math.Round(s.o.rate*0.1/limitedPerKey)))
	s.progress("soak: making %d keys and %d rate-limited keys (%d per %v) through POST /v1/keys", s.o.keys, nLimited, limitedLimit, limitedPeriod)
	start := time.Now()
	specs := make([]map[string]any, 0, s.o.keys+nLimited)
	for i := range s.o.keys {
		specs = append(specs, map[string]any{"name": fmt.Sprintf("soak key %d", i), "owner": owner, "permissions": []string{"orders.read"},
			"metadata": map[string]any{"n": i}})
	}
	for i := range nLimited {
		specs = append(specs, map[string]any{"name": fmt.Sprintf("soak limited key %d", i), "owner": owner, "permissions": []string{"orders.read"},
			"rateLimit": map[string]any{"limit": limitedLimit, "period": limitedPeriod.String()}})
	}
	made := make([]soakKey, len(specs))
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(specs) || ctx.Err() != nil {
					return
				}
				k, err := s.createKey(ctx, s.mgmt, specs[i])
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					next.Store(int64(len(specs)))
					return
				}
				made[i] = k
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.keys, s.limited = made[:s.o.keys], made[s.o.keys:]
	for _, k := range made {
		s.stable[k.ID] = true
	}
	s.limits.admitted = make([]int64, len(s.limited))
	s.progress("soak: made %d keys in %v", len(made), time.Since(start).Round(100*time.Millisecond))
	for _, k := range s.keys {
		s.validBodies = append(s.validBodies, s.verifyBody(k.Secret))
	}
	for _, k := range s.limited {
		s.limitedBodies = append(s.limitedBodies, s.verifyBody(k.Secret))
	}
	for range 1000 {
		s.unknownPool = append(s.unknownPool, s.verifyBody(secret.MustGenerate(secret.SecretKind, secret.Live)))
	}

	if n := s.o.prefillUnknown; n > 0 {
		s.progress("soak: verifying %d unknown secrets once (filling the server's memory of unknown secrets)", n)
		var next, failed atomic.Int64
		var first atomic.Value
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for int(next.Add(1)) <= n && ctx.Err() == nil {
					body := s.verifyBody(secret.MustGenerate(secret.SecretKind, secret.Live))
					status, _, b, err := call(ctx, s.hot, "POST", s.base+"/v1/verify", s.verifier, body)
					var ans verifyAnswer
					if err != nil || status != 200 || json.Unmarshal(b, &ans) != nil || ans.Code != "NOT_FOUND" {
						failed.Add(1)
						first.CompareAndSwap(nil, fmt.Sprintf("%v %s", err, snippet(status, b)))
					}
				}
			})
		}
		wg.Wait()
		if f := failed.Load(); f > 0 {
			return fmt.Errorf("filling the memory of unknown secrets: %d of %d verifications failed; first: %v", f, n, first.Load())
		}
	}
	return ctx.Err()
}

func (s *soaker) verifyBody(key string) []byte {
	return jsonBody(map[string]any{"key": key, "apps": []string{s.app}, "permissions": []string{"orders.read"}})
}

func (s *soaker) createKey(ctx context.Context, client *http.Client, spec map[string]any) (soakKey, error) {
	status, _, body, err := call(ctx, client, "POST", s.base+"/v1/keys", s.admin, jsonBody(spec))
	var k soakKey
	if err != nil || status != 201 || json.Unmarshal(body, &k) != nil || k.ID == "" || k.Secret == "" {
		return soakKey{}, fmt.Errorf("POST /v1/keys: %v %s", err, snippet(status, body))
	}
	return k, nil
}

type verifyAnswer struct {
	Valid bool   `json:"valid"`
	Code  string `json:"code"`
	KeyID string `json:"keyId"`
}

// runLoad runs the open loop and the management cycles for d (or until ctx
// ends), calling tick every -sample-every, then waits for every request
// in flight. It returns how long the load ran.
func (s *soaker) runLoad(ctx context.Context, d time.Duration, st *soakStats, tick func()) time.Duration {
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	// The open loop: a dispatcher releases a request every 1/rate, and
	// whichever worker is free sends it. A queue of 5 s of requests
	// absorbs a stall; past that, requests are dropped and counted.
	type job struct {
		kind     int
		released time.Time
	}
	jobs := make(chan job, max(s.o.conc*4, int(s.o.rate*5)))
	for range s.o.conc {
		wg.Go(func() {
			for j := range jobs {
				s.hotRequest(ctx, st, j.kind, j.released)
			}
		})
	}
	// Management: cycles released on a schedule of their own, two at a
	// time at most.
	cycles := make(chan int, 8)
	for range 2 {
		wg.Go(func() {
			for i := range cycles {
				s.cycle(ctx, st, i)
			}
		})
	}
	var dispatchers sync.WaitGroup
	dispatchers.Go(func() {
		defer close(cycles)
		interval := time.Duration(float64(time.Second) / s.o.mgmtRate)
		for i := 0; ; i++ {
			due := start.Add(time.Duration(i) * interval)
			if !due.Before(end) || waitUntil(ctx, due) != nil {
				return
			}
			select {
			case cycles <- i:
			default:
				st.mgmtDropped.Add(1)
			}
		}
	})
	if tick != nil {
		dispatchers.Go(func() {
			for next := start.Add(s.o.sampleEvery); next.Before(end.Add(-s.o.sampleEvery / 2)); next = next.Add(s.o.sampleEvery) {
				if waitUntil(ctx, next) != nil {
					return
				}
				tick()
			}
		})
	}
	interval := time.Duration(float64(time.Second) / s.o.rate)
	slot := 0
	for i := 0; ; {
		now := time.Now()
		if !now.Before(end) || ctx.Err() != nil {
			break
		}
		n := int(now.Sub(start)/interval) + 1 // requests due by now
		for ; i < n; i++ {
			select {
			case jobs <- job{kind: hotMix[slot], released: now}:
			default:
				st.dropped.Add(1)
			}
			if slot++; slot == len(hotMix) {
				slot = 0
			}
		}
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
	}
	elapsed := time.Since(start)
	close(jobs)
	dispatchers.Wait()
	wg.Wait()
	return elapsed
}

func waitUntil(ctx context.Context, t time.Time) error {
	return waitContext(ctx, time.Until(t))
}

// hotRequest sends one request of the open loop and checks its answer.
func (s *soaker) hotRequest(ctx context.Context, st *soakStats, kind int, released time.Time) {
	k := &st.kinds[kind]
	var (
		status int
		hdr    http.Header
		body   []byte
		err    error
		want   string // the key id the answer must name
		key    = -1   // the rate-limited key's index
	)
	switch kind {
	case kindVerifyValid:
		i := int(s.nextValid.Add(1) % uint64(len(s.keys)))
		want = s.keys[i].ID
		status, _, body, err = call(ctx, s.hot, "POST", s.base+"/v1/verify", s.verifier, s.validBodies[i])
	case kindAuthorize:
		// Start half way round, so that verify and authorize use other
		// keys at any moment.
		i := int((s.nextAuth.Add(1) + uint64(len(s.keys)/2)) % uint64(len(s.keys)))
		want = s.keys[i].ID
		status, hdr, body, err = call(ctx, s.hot, "GET", s.base+"/v1/authorize?app="+url.QueryEscape(s.app)+"&permission=orders.read", s.keys[i].Secret, nil)
	case kindVerifyUnknown:
		// Half never seen before (a lookup, then remembered), half sent
		// again (answered from the memory of unknown secrets).
		n := s.nextUnknown.Add(1)
		b := s.unknownPool[n/2%uint64(len(s.unknownPool))]
		if n%2 == 0 {
			b = s.verifyBody(secret.MustGenerate(secret.SecretKind, secret.Live))
		}
		status, _, body, err = call(ctx, s.hot, "POST", s.base+"/v1/verify", s.verifier, b)
	case kindVerifyLimited:
		key = int(s.nextLimited.Add(1) % uint64(len(s.limited)))
		want = s.limited[key].ID
		s.limits.sent(time.Now())
		status, _, body, err = call(ctx, s.hot, "POST", s.base+"/v1/verify", s.verifier, s.limitedBodies[key])
	}
	done := time.Now()
	lat := done.Sub(released)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			k.fail(-1, errTransport, err.Error())
		}
		return
	case status >= 500:
		k.fail(lat, errServer, snippet(status, body))
		return
	}
	if kind == kindAuthorize {
		id, code := hdr.Get("X-Latchkey-Key-Id"), hdr.Get("X-Latchkey-Code")
		if status != 200 || id != want || (code != "" && code != "VALID") {
			k.fail(lat, errUnexpected, fmt.Sprintf("%s, key id %q (want %q), code %q", snippet(status, body), id, want, code))
			return
		}
		k.ok(lat, "200")
		return
	}
	var ans verifyAnswer
	if status != 200 || json.Unmarshal(body, &ans) != nil {
		k.fail(lat, errUnexpected, snippet(status, body))
		return
	}
	var good bool
	switch kind {
	case kindVerifyValid:
		good = ans.Code == "VALID" && ans.Valid && ans.KeyID == want
	case kindVerifyUnknown:
		good = ans.Code == "NOT_FOUND" && !ans.Valid && ans.KeyID == ""
	case kindVerifyLimited:
		good = ans.KeyID == want && (ans.Code == "VALID" && ans.Valid || ans.Code == "RATE_LIMITED" && !ans.Valid)
		if good {
			s.limits.answered(done, key, ans.Code == "VALID")
		}
	}
	if !good {
		k.fail(lat, errUnexpected, fmt.Sprintf("code %q, valid %v, keyId %q (want %q)", ans.Code, ans.Valid, ans.KeyID, want))
		return
	}
	k.ok(lat, ans.Code)
}

// step is one request of a management cycle: it records the request under
// kind, and reports whether the answer was as expected (check returns ""
// for an expected answer, else what was wrong).
func (s *soaker) step(ctx context.Context, st *soakStats, kind int, method, path, bearer string, body []byte,
	check func(status int, b []byte) (answer, problem string)) bool {
	k := &st.kinds[kind]
	t0 := time.Now()
	status, _, b, err := call(ctx, s.mgmt, method, s.base+path, bearer, body)
	lat := time.Since(t0)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			k.fail(-1, errTransport, method+" "+pathShape(path)+": "+err.Error())
		}
		return false
	case status >= 500:
		k.fail(lat, errServer, method+" "+pathShape(path)+": "+snippet(status, b))
		return false
	}
	answer, problem := check(status, b)
	if problem != "" {
		k.fail(lat, errUnexpected, method+" "+pathShape(path)+": "+problem)
		return false
	}
	k.ok(lat, answer)
	return true
}

// pathShape is a path without its ids, for error messages.
func pathShape(p string) string {
	p, _, _ = strings.Cut(p, "?")
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, "key_") {
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

// verifyStep verifies sec as the cycle's key and expects code.
func (s *soaker) verifyStep(ctx context.Context, st *soakStats, sec, id, code string) bool {
	return s.step(ctx, st, kindVerifyChurned, "POST", "/v1/verify", s.verifier, s.verifyBody(sec), func(status int, b []byte) (string, string) {
		var ans verifyAnswer
		if status != 200 || json.Unmarshal(b, &ans) != nil {
			return "", snippet(status, b)
		}
		wantID := id
		if code == "NOT_FOUND" {
			wantID = ""
		}
		if ans.Code != code || ans.KeyID != wantID || ans.Valid != (code == "VALID") {
			return "", fmt.Sprintf("code %q, keyId %q; want %q, %q", ans.Code, ans.KeyID, code, wantID)
		}
		return ans.Code, ""
	})
}

// cycle is one management cycle: a key made, used, changed, rolled and
// deleted, each change checked on the very next verification.
func (s *soaker) cycle(ctx context.Context, st *soakStats, i int) {
	// The first cycle to run, and every listEvery-th after it, lists
	// every page first.
	if st.cycles.Add(1)%listEvery == 1 {
		s.listWalk(ctx, st)
	}
	var k soakKey
	name := fmt.Sprintf("soak churn %d", i)
	spec := jsonBody(map[string]any{"name": name, "owner": map[string]any{"type": "app", "id": s.app},
		"permissions": []string{"orders.read"}, "metadata": map[string]any{"cycle": i}})
	if !s.step(ctx, st, kindCreate, "POST", "/v1/keys", s.admin, spec, func(status int, b []byte) (string, string) {
		if status != 201 || json.Unmarshal(b, &k) != nil || k.ID == "" || k.Secret == "" {
			return "", snippet(status, b)
		}
		return "201", ""
	}) {
		return
	}
	// From here on, the key is deleted whatever happens.
	deleted := false
	defer func() {
		if !deleted {
			call(context.WithoutCancel(ctx), s.mgmt, "DELETE", s.base+"/v1/keys/"+k.ID, s.admin, nil)
		}
	}()
	if !s.verifyStep(ctx, st, k.Secret, k.ID, "VALID") {
		return
	}
	patched := name + " patched"
	if !s.step(ctx, st, kindPatch, "PATCH", "/v1/keys/"+k.ID, s.admin,
		jsonBody(map[string]any{"name": patched, "metadata": map[string]any{"cycle": i, "patched": true}}),
		func(status int, b []byte) (string, string) {
			var got struct {
				ID, Name string
				Metadata map[string]any
			}
			if status != 200 || json.Unmarshal(b, &got) != nil {
				return "", snippet(status, b)
			}
			if got.ID != k.ID || got.Name != patched || got.Metadata["patched"] != true {
				return "", fmt.Sprintf("the answer shows id %q, name %q, metadata %v", got.ID, got.Name, got.Metadata)
			}
			return "200", ""
		}) {
		return
	}
	old := k.Secret
	if !s.step(ctx, st, kindRoll, "POST", "/v1/keys/"+k.ID+"/roll", s.admin, jsonBody(map[string]any{"gracePeriod": "0s"}),
		func(status int, b []byte) (string, string) {
			var got soakKey
			if status != 200 || json.Unmarshal(b, &got) != nil {
				return "", snippet(status, b)
			}
			if got.ID != k.ID || got.Secret == "" || got.Secret == old {
				return "", "the answer has no new secret for the key"
			}
			k.Secret = got.Secret
			return "200", ""
		}) {
		return
	}
	if !s.verifyStep(ctx, st, old, k.ID, "NOT_FOUND") || !s.verifyStep(ctx, st, k.Secret, k.ID, "VALID") {
		return
	}
	if !s.step(ctx, st, kindDelete, "DELETE", "/v1/keys/"+k.ID, s.admin, nil, func(status int, b []byte) (string, string) {
		if status != 204 {
			return "", snippet(status, b)
		}
		return "204", ""
	}) {
		return
	}
	deleted = true
	s.verifyStep(ctx, st, k.Secret, k.ID, "NOT_FOUND")
}

// listWalk lists the app's keys, every page, and checks that each key that
// lives for the whole run is listed exactly once.
func (s *soaker) listWalk(ctx context.Context, st *soakStats) {
	seen := map[string]int{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > len(s.stable)/100+1000 {
			st.kinds[kindList].fail(-1, errUnexpected, "the pages never end")
			return
		}
		path := "/v1/keys?ownerType=app&ownerId=" + url.QueryEscape(s.app) + "&limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Data []struct {
				ID     string  `json:"id"`
				Secret *string `json:"secret"`
			} `json:"data"`
			NextCursor *string `json:"nextCursor"`
		}
		if !s.step(ctx, st, kindList, "GET", path, s.admin, nil, func(status int, b []byte) (string, string) {
			if status != 200 || json.Unmarshal(b, &page) != nil {
				return "", snippet(status, b)
			}
			if len(page.Data) > 100 {
				return "", fmt.Sprintf("%d keys on a page of 100", len(page.Data))
			}
			for _, k := range page.Data {
				if k.Secret != nil {
					return "", "a listed key shows its secret"
				}
			}
			return "200", ""
		}) {
			return
		}
		for _, k := range page.Data {
			seen[k.ID]++
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	st.listWalks.Add(1)
	var missing, twice int
	for _, n := range seen {
		if n > 1 {
			twice++
		}
	}
	for id := range s.stable {
		if seen[id] == 0 {
			missing++
		}
	}
	if missing > 0 || twice > 0 {
		st.kinds[kindList].fail(-1, errUnexpected, fmt.Sprintf("a walk of every page: %d of the %d lasting keys missing, %d keys listed twice", missing, len(s.stable), twice))
	}
}

// sample reads the server's state. quiesce: with the load paused, close
// the load generator's connections and wait until the server's goroutine
// count settles, so that samples taken this way compare.
func (s *soaker) sample(ctx context.Context, quiesce bool, at time.Duration) (serverSample, error) {
	smp := serverSample{AtSeconds: at.Seconds(), Quiesced: quiesce}
	if quiesce {
		s.hotTr.CloseIdleConnections()
		s.mgmtTr.CloseIdleConnections()
		prev := -1
		for i := 0; i < 40; i++ { // at most 10 s
			if err := waitContext(ctx, 250*time.Millisecond); err != nil {
				return smp, err
			}
			v, err := s.vars(ctx)
			if err != nil {
				return smp, err
			}
			if v.Goroutines == prev {
				break
			}
			prev = v.Goroutines
		}
	}
	// A heap profile with gc=1 runs a garbage collection first: the heap
	// read next is then the live heap.
	status, _, _, err := call(ctx, s.dbg, "GET", s.debug+"/debug/pprof/heap?gc=1", "", nil)
	if err != nil || status != 200 {
		return smp, fmt.Errorf("GET /debug/pprof/heap?gc=1 on the debug listener: %d %v", status, err)
	}
	v, err := s.vars(ctx)
	if err != nil {
		return smp, err
	}
	smp.Goroutines = v.Goroutines
	smp.HeapAlloc, smp.HeapInuse, smp.HeapSys, smp.Sys, smp.NumGC = v.Memstats.HeapAlloc, v.Memstats.HeapInuse, v.Memstats.HeapSys, v.Memstats.Sys, v.Memstats.NumGC
	pid := s.lk.pid()
	smp.RSS, smp.RSSPeak = procStatus(pid, "VmRSS:"), procStatus(pid, "VmHWM:")
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		smp.FDs = len(fds)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(filepath.Join(s.dataDir, "latchkey.db"+suffix)); err == nil {
			smp.DBBytes += fi.Size()
		}
	}
	if quiesce && s.o.profileDir != "" {
		name := "start"
		if at > 0 {
			name = "end"
		}
		if err := s.saveProfiles(ctx, name); err != nil {
			return smp, err
		}
	}
	return smp, nil
}

// saveProfiles writes the server's goroutine dump, heap profile and list
// of open files into -profiles, their names starting with name.
func (s *soaker) saveProfiles(ctx context.Context, name string) error {
	dir := s.o.profileDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for file, path := range map[string]string{"goroutines.txt": "/debug/pprof/goroutine?debug=1", "heap.pb.gz": "/debug/pprof/heap"} {
		status, _, b, err := call(ctx, s.dbg, "GET", s.debug+path, "", nil)
		if err != nil || status != 200 {
			return fmt.Errorf("GET %s on the debug listener: %d %v", path, status, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+file), b, 0o644); err != nil {
			return err
		}
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", s.lk.pid())
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return err
	}
	var fds strings.Builder
	for _, e := range entries {
		target, _ := os.Readlink(filepath.Join(fdDir, e.Name()))
		fmt.Fprintf(&fds, "%s -> %s\n", e.Name(), target)
	}
	return os.WriteFile(filepath.Join(dir, name+"-files.txt"), []byte(fds.String()), 0o644)
}

type debugVars struct {
	Goroutines int `json:"goroutines"`
	Memstats   struct {
		HeapAlloc, HeapInuse, HeapSys, Sys int64
		NumGC                              int64
	} `json:"memstats"`
}

func (s *soaker) vars(ctx context.Context) (*debugVars, error) {
	status, _, b, err := call(ctx, s.dbg, "GET", s.debug+"/debug/vars", "", nil)
	var v debugVars
	if err != nil || status != 200 || json.Unmarshal(b, &v) != nil || v.Memstats.Sys == 0 {
		return nil, fmt.Errorf("GET /debug/vars on the debug listener: %d %v", status, err)
	}
	return &v, nil
}

// procStatus reads a size in kB from /proc/PID/status, in bytes.
func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (smp serverSample) summary() string {
	return fmt.Sprintf("RSS %s, live heap %s, %d goroutines, %d open files, database %s",
		fmtBytes(smp.RSS), fmtBytes(smp.HeapAlloc), smp.Goroutines, smp.FDs, fmtBytes(smp.DBBytes))
}

func fmtBytes(n int64) string {
	switch a := math.Abs(float64(n)); {
	case a >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func (k *kindStats) report(name string, secs float64) kindReport {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := kindReport{Kind: name, Requests: k.requests, PerSecond: float64(k.requests) / secs, ErrorSamples: k.samples, hist: k.hist}
	for c, n := range k.errs {
		if r.ErrorsByKind == nil {
			r.ErrorsByKind = map[string]int64{}
		}
		r.ErrorsByKind[c] = n
		r.Errors += n
	}
	if len(k.answers) > 0 {
		r.Answers = map[string]int64{}
		for a, n := range k.answers {
			r.Answers[a] = n
		}
	}
	r.setLatencies()
	return r
}

func (r *kindReport) setLatencies() {
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	r.P50ms, r.P99ms, r.Maxms = ms(r.hist.quantile(0.5)), ms(r.hist.quantile(0.99)), ms(time.Duration(r.hist.max))
}

// limitReport checks the rate-limited keys against their limits: in any
// interval of one period a key is admitted at most limit times, so over
// the span from the first request sent to the last answered, at most
// limit times the number of periods it covers, rounded up.
func (s *soaker) limitReport() rateLimitJSON {
	l := &s.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	r := rateLimitJSON{Keys: len(s.limited), Limit: limitedLimit, Period: limitedPeriod.String()}
	if l.first.IsZero() || !l.last.After(l.first) {
		return r
	}
	periods := int64(math.Ceil(float64(l.last.Sub(l.first)) / float64(limitedPeriod)))
	perKey := periods * limitedLimit
	for _, n := range l.admitted {
		r.Admitted += n
		r.Bound += perKey
		r.WorstKey = max(r.WorstKey, float64(n)/float64(perKey))
		if n > perKey {
			r.Broken++
		}
	}
	return r
}

// scanLog counts the server log's ERROR and WARN lines.
func (s *soaker) scanLog() (errs, warns int, first string) {
	f, err := os.Open(s.lk.log)
	if err != nil {
		return 0, 0, ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "level=ERROR"):
			errs++
			if first == "" {
				first = line
			}
		case strings.Contains(line, "level=WARN"):
			warns++
		}
	}
	return errs, warns, first
}

func machineInfo() soakMachine {
	m := soakMachine{CPUs: runtime.NumCPU(), Model: "unknown", Go: runtime.Version(), LoadStart: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.Model = strings.TrimSpace(value)
				break
			}
		}
	}
	return m
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// print writes the report as Markdown tables.
func (r *soakReport) print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "### soak: %s of mixed load on one Latchkey (SQLite)\n\n", time.Duration(r.ElapsedSeconds*float64(time.Second)).Round(time.Second))
	fmt.Fprintf(w, "Run %s on %d CPUs (%q), %s; load average %s at the start, %s at the end.\n", r.Date, r.Machine.CPUs, r.Machine.Model,
		r.Machine.Go, r.Machine.LoadStart, r.Machine.LoadEnd)
	fmt.Fprintf(w, "Open loop at %.0f verify and authorize requests/s over %d connections, %d keys (and %d rate-limited keys, %d per %s); "+
		"%.1f management cycles/s; after %s of warm-up and %d unknown secrets verified once.\n\n",
		o.Rate, o.Conc, o.Keys, o.LimitedKeys, r.RateLimit.Limit, r.RateLimit.Period, o.MgmtRate, o.Warmup, o.PrefillUnknown)
	if r.Interrupted {
		fmt.Fprintf(w, "**Interrupted** after %.0f s.\n\n", r.ElapsedSeconds)
	}
	fmt.Fprintf(w, "| kind | requests | per second | errors | p50 | p99 | max | answers |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, k := range append(append([]kindReport(nil), r.Kinds...), r.Total) {
		name := k.Kind
		if name == "total" {
			name = "**total**"
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %d | %s | %s | %s | %s |\n", name, k.Requests, k.PerSecond, k.Errors,
			fmtDur(msDur(k.P50ms)), fmtDur(msDur(k.P99ms)), fmtDur(msDur(k.Maxms)), fmtAnswers(k.Answers))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Latency of verify and authorize counts from when the request was due (open loop); of management requests, from when each was sent. "+
		"Requests not sent because the load generator fell behind: %d; management cycles skipped: %d. Management cycles: %d; walks of every page: %d.\n\n",
		r.Dropped, r.MgmtDropped, r.Cycles, r.ListWalks)
	rl := r.RateLimit
	fmt.Fprintf(w, "Rate limits: the %d rate-limited keys were admitted %d times, of at most %d their limits allow over the run "+
		"(the busiest key %.0f%% of its bound); keys over their bound: %d.\n\n", rl.Keys, rl.Admitted, rl.Bound, 100*rl.WorstKey, rl.Broken)
	if r.WarmupErrors > 0 || r.Total.Errors > 0 {
		fmt.Fprintf(w, "**Errors**: %d in the warm-up, %d in the run.\n\n", r.WarmupErrors, r.Total.Errors)
		for _, k := range r.Kinds {
			for _, e := range k.ErrorSamples {
				fmt.Fprintf(w, "- %s: %s\n", k.Kind, e)
			}
		}
		for _, e := range r.WarmupSamples {
			fmt.Fprintf(w, "- warm-up: %s\n", e)
		}
		fmt.Fprintln(w)
	}
	st, en := r.Start, r.End
	if r.EndSampleError != "" {
		fmt.Fprintf(w, "**The server could not be sampled at the end**: %s\n\n", r.EndSampleError)
	}
	fmt.Fprintf(w, "The server, with the load paused, connections closed and a garbage collection forced:\n\n")
	fmt.Fprintf(w, "| | start (after warm-up) | end | growth |\n|---|---:|---:|---:|\n")
	row := func(name string, a, b int64, bytes bool) {
		f := func(n int64) string { return strconv.FormatInt(n, 10) }
		if bytes {
			f = fmtBytes
		}
		pct := ""
		if a != 0 {
			pct = fmt.Sprintf(" (%+.0f%%)", 100*float64(b-a)/float64(a))
		}
		sign := "+"
		if b < a {
			sign = ""
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s%s%s |\n", name, f(a), f(b), sign, f(b-a), pct)
	}
	row("RSS", st.RSS, en.RSS, true)
	row("peak RSS", st.RSSPeak, en.RSSPeak, true)
	row("Go heap, live", st.HeapAlloc, en.HeapAlloc, true)
	row("Go heap, from the OS", st.HeapSys, en.HeapSys, true)
	row("goroutines", int64(st.Goroutines), int64(en.Goroutines), false)
	row("open files", int64(st.FDs), int64(en.FDs), false)
	row("database (with WAL)", st.DBBytes, en.DBBytes, true)
	fmt.Fprintln(w)
	if len(r.Samples) > 2 {
		fmt.Fprintf(w, "Samples while the load ran (a garbage collection forced before each; goroutines include the open connections):\n\n")
		fmt.Fprintf(w, "| at | RSS | live heap | goroutines | open files | database |\n|---:|---:|---:|---:|---:|---:|\n")
		for _, smp := range r.Samples {
			at := time.Duration(smp.AtSeconds * float64(time.Second)).Round(time.Second).String()
			if smp.Quiesced {
				at += " (paused)"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %s |\n", at, fmtBytes(smp.RSS), fmtBytes(smp.HeapAlloc), smp.Goroutines, smp.FDs, fmtBytes(smp.DBBytes))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Server log: %d ERROR lines, %d WARN lines.", r.ServerLogErrors, r.ServerLogWarns)
	if r.ServerLogFirst != "" {
		fmt.Fprintf(w, " First error: `%s`", r.ServerLogFirst)
	}
	fmt.Fprintf(w, "\n\nErrors in all (warm-up, run, rate limits): %d.\n\n", r.TotalErrors)
}

func msDur(ms float64) time.Duration { return time.Duration(ms * 1e6) }

func fmtAnswers(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
