package main

import (
	"encoding/json"
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"time"
)

// The debug listener (--debug-addr, off by default) serves the Go
// runtime's diagnostics on an address of its own, apart from the API:
//
//	/debug/pprof/...  net/http/pprof: profiles of CPU, heap, goroutines,
//	                  blocking, mutexes and allocations, and execution traces
//	/debug/vars       expvar's JSON: "memstats" (runtime.MemStats) and
//	                  "goroutines" (their number), and any other variable
//	                  published
//
// It has no authentication: whoever reaches it can read stack traces and
// make the process spend CPU on profiles. So it listens on loopback only,
// and an address that is not loopback is refused rather than served; an
// operator who needs it from elsewhere reaches it through an SSH tunnel.
// Nothing it serves holds a secret: the command line, which may carry a
// database or Redis URL with a password, is left out of both
// (/debug/pprof/cmdline answers 404, and expvar's "cmdline" is not shown).

// publishGoroutines adds "goroutines" to expvar once per process: serve may
// run more than once in one process (the tests), and expvar.Publish panics
// on a name published twice.
var publishGoroutines sync.Once

// startDebug starts the debug listener on addr, unless addr is empty, and
// returns the function that stops it.
func startDebug(addr string, logger *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	if err := checkDebugAddr(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-addr: %w", err)
	}
	// localhost is resolved by the system: make sure it came to loopback.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("--debug-addr %q: resolved to %s, which is not loopback", addr, ln.Addr())
	}
	publishGoroutines.Do(func() {
		if expvar.Get("goroutines") == nil {
			expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
		}
	})
	srv := &http.Server{
		Handler:           debugHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: a CPU profile or a trace answers after the
		// number of seconds asked for.
		IdleTimeout: 120 * time.Second,
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go srv.Serve(ln)
	logger.Info("debug server listening (pprof and expvar, loopback only)", "debug_addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

// debugHandler serves pprof and expvar on a mux of its own: the API's
// handler never sees these paths, whatever http.DefaultServeMux holds.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/cmdline", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not served: the command line may hold credentials", http.StatusNotFound)
	})
	mux.HandleFunc("/debug/vars", serveVars)
	return mux
}

// serveVars is expvar's handler without the "cmdline" variable.
func serveVars(w http.ResponseWriter, r *http.Request) {
	vars := map[string]json.RawMessage{}
	expvar.Do(func(kv expvar.KeyValue) {
		if kv.Key != "cmdline" {
			vars[kv.Key] = json.RawMessage(kv.Value.String())
		}
	})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(vars)
}

// checkDebugAddr refuses a --debug-addr that is not a loopback address (or
// localhost), before anything else starts: parseConfig calls it, so that a
// wrong setting stops the server before it touches its data directory.
func checkDebugAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--debug-addr %q (LATCHKEY_DEBUG_ADDR): %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--debug-addr %q (LATCHKEY_DEBUG_ADDR): the debug listener serves profiles without authentication, so it listens on loopback only: "+
			"give 127.0.0.1:PORT, [::1]:PORT or localhost:PORT, and reach it from elsewhere through an SSH tunnel", addr)
	}
	return nil
}
