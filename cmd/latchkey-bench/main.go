// Command latchkey-bench measures Latchkey's verification path over HTTP,
// each figure against a baseline measured in the same run, on the same
// machine, by the same load generator:
//
//	latchkey-bench authorize   GET /v1/authorize with a valid key, 10,000 keys
//	                           in the store, against a bare net/http handler
//	                           that only answers 200: throughput in a closed
//	                           loop, then latency in an open loop at half of
//	                           Latchkey's throughput
//	latchkey-bench gateway     nginx with deploy/nginx/latchkey.conf (its
//	                           addresses rewritten) in front of an API, against
//	                           the same nginx proxying to the same API without
//	                           auth_request
//	latchkey-bench churn       warm verification throughput without, then
//	                           with, keys created at 100 per second through
//	                           POST /v1/keys
//	latchkey-bench all         the three in turn, on one Latchkey
//	latchkey-bench soak        sustained mixed load (verify, authorize, key
//	                           management) for -duration, checking every
//	                           answer, with the server's memory and
//	                           goroutines at the start and the end (soak.go)
//	latchkey-bench import      `latchkey import` of 100,000 keys into a fresh
//	                           Latchkey, then again (every key skipped),
//	                           against the same keys made one at a time
//	                           through POST /v1/keys, and the cost of an
//	                           imported key's first use (import.go)
//
// It starts everything it measures, on 127.0.0.1 only: the bare handler (this
// program, re-executed), Latchkey (the latchkey binary given by
// -latchkey-bin, else built from ./cmd/latchkey) on a data directory of its
// own, and nginx. It makes the keys through POST /v1/keys and verifies each
// once, so that every key is warm, before measuring anything. Every
// comparison alternates baseline and subject runs (-rounds of each) and
// reports the medians and their ratio, with the CPU time the servers and the
// load generator used, so that it shows which of them was the limit.
//
// The load generator keeps one HTTP/1.1 connection per worker (-concurrency)
// open for the whole run and sends prepared requests, each worker going
// round the keys. In the closed loop, each connection sends its next request
// as soon as the last is answered. In the open loop, requests are released
// at a fixed rate (-rate, or half the subject's closed-loop throughput)
// whatever the server's pace, and a request's latency counts from its
// release, so waiting for a free connection is counted. Latencies go into a
// histogram with 1% resolution; runs report p50, p90, p99 and max.
//
// On a machine with two CPUs or more, the servers run on -server-cpus and
// the load generator on -client-cpus (taskset), so that they do not take
// CPU time from each other; GOMAXPROCS follows each process's CPUs.
//
// Latchkey writes its usage counts every 5 s, one row per key used since
// the last write; with thousands of keys in use that write takes a
// noticeable share of a CPU for a moment. Runs last 5 s by default so that
// each holds one such write, and baseline and subject runs are comparable.
//
// A run's figures go to stdout as Markdown tables; progress goes to stderr.
// See docs/BENCHMARKS.md, and `make bench-load`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const usageText = `Usage: latchkey-bench <authorize|gateway|churn|all|soak|import> [flags]

Run "latchkey-bench <scenario> -h" for the flags.
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "latchkey-bench:", err)
		os.Exit(1)
	}
}

func newFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet("latchkey-bench "+name, flag.ContinueOnError)
}

func notifyStop(c chan<- os.Signal) { signal.Notify(c, os.Interrupt, syscall.SIGTERM) }

// parseOptions reads a scenario's flags.
func parseOptions(name string, args []string) (*options, error) {
	fs := newFlagSet(name)
	o := &options{}
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each measured run; keep it a multiple of 5s, Latchkey's usage flush interval, so that every run holds as many flushes")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured closed-loop run against each target before its first measured run")
	fs.IntVar(&o.rounds, "rounds", 3, "measured runs of the baseline and of the subject, alternated")
	fs.IntVar(&o.conc, "concurrency", 16, "keep-alive connections (workers); nginx's upstream keepalive in the shipped configuration is 16")
	fs.Float64Var(&o.rate, "rate", 0, "open-loop rate in requests per second for authorize (0: half of Latchkey's median closed-loop throughput)")
	fs.IntVar(&o.keys, "keys", 10000, "keys to make in Latchkey; requests go round all of them")
	fs.StringVar(&o.cred, "cred", "bearer", "how requests present a key: bearer (Authorization: Bearer <secret>), basic (id:secret), or x-api-key")
	fs.Float64Var(&o.createsPerSec, "creates-per-sec", 100, "churn: keys created per second in the subject runs")
	fs.StringVar(&o.latchkeyBin, "latchkey-bin", "", "the latchkey binary (default: go build ./cmd/latchkey, from the repository's root)")
	fs.StringVar(&o.latchkeyURL, "latchkey-url", "", "measure a Latchkey already running at this loopback URL instead (authorize and churn only); needs -admin-key")
	fs.StringVar(&o.adminKey, "admin-key", os.Getenv("LATCHKEY_BENCH_ADMIN_KEY"), "with -latchkey-url: the secret of an account key, to make keys with (default $LATCHKEY_BENCH_ADMIN_KEY)")
	fs.StringVar(&o.dataDir, "data-dir", "", "Latchkey's data directory (default: a new temporary one, removed at the end); keys made in it are kept in "+keysFile+" and reused by the next run")
	fs.StringVar(&o.nginxBin, "nginx", "", "the nginx binary (default: nginx on PATH, or /usr/sbin/nginx)")
	fs.StringVar(&o.nginxConf, "nginx-conf", "deploy/nginx/latchkey.conf", "the shipped nginx configuration")
	fs.BoolVar(&o.gatewayOpenLoop, "gateway-open-loop", false, "gateway: also measure latency in an open loop at half the gateway's throughput")
	fs.StringVar(&o.pin.server, "server-cpus", "0", "CPUs (taskset list) for Latchkey, nginx and the bare handler; empty: no pinning")
	fs.StringVar(&o.pin.client, "client-cpus", "1", "CPUs (taskset list) for the load generator; empty: no pinning")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case o.duration <= 0 || o.duration > 10*time.Minute:
		return nil, fmt.Errorf("-duration %v: want more than 0 and at most 10m", o.duration)
	case o.rounds < 1 || o.rounds > 50:
		return nil, fmt.Errorf("-rounds %d: want 1 to 50", o.rounds)
	case o.conc < 1 || o.conc > 1000:
		return nil, fmt.Errorf("-concurrency %d: want 1 to 1000", o.conc)
	case o.keys < 1 || o.keys > 1000000:
		return nil, fmt.Errorf("-keys %d: want 1 to 1000000", o.keys)
	case o.rate < 0 || o.rate > 1e6:
		return nil, fmt.Errorf("-rate %v: want 0 to 1000000", o.rate)
	case o.createsPerSec <= 0 || o.createsPerSec > 10000:
		return nil, fmt.Errorf("-creates-per-sec %v: want more than 0 and at most 10000", o.createsPerSec)
	case o.cred != "bearer" && o.cred != "basic" && o.cred != "x-api-key":
		return nil, fmt.Errorf("-cred %q: want bearer, basic or x-api-key", o.cred)
	}
	o.pin.findTaskset("load generator")
	return o, nil
}

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usageText)
		return fmt.Errorf("no scenario given")
	}
	name := args[0]
	var scenarios []string
	switch name {
	case "bare": // the baseline server, started by this program itself
		return serveBare(args[1:])
	case "soak": // sustained mixed load; see soak.go
		return runSoak(args[1:])
	case "import": // latchkey import against POST /v1/keys; see import.go
		return runImport(args[1:])
	case "authorize", "gateway", "churn":
		scenarios = []string{name}
	case "all":
		scenarios = []string{"authorize", "gateway", "churn"}
	case "help", "-h", "--help":
		fmt.Print(usageText)
		return nil
	default:
		fmt.Fprint(os.Stderr, usageText)
		return fmt.Errorf("unknown scenario %q", name)
	}
	o, err := parseOptions(name, args[1:])
	if err != nil {
		return err
	}
	if err := pinSelf(o.pin); err != nil {
		return fmt.Errorf("pin to CPUs %s: %w", o.pin.client, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	r, err := setup(ctx, o, os.Stdout)
	if err != nil {
		return err
	}
	defer os.RemoveAll(r.work)
	defer r.close()
	r.environment()
	for _, s := range scenarios {
		var err error
		switch s {
		case "authorize":
			err = r.authorize(ctx)
		case "gateway":
			err = r.gateway(ctx)
		case "churn":
			err = r.churn(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	if o.dataDir != "" {
		progress("Latchkey's data directory %s is kept, with its keys in %s", o.dataDir, strings.TrimSuffix(o.dataDir, "/")+"/"+keysFile)
	}
	return nil
}
