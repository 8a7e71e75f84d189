package main

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var a, b histogram
	for i := 1; i <= 1000; i++ {
		a.record(time.Duration(i) * time.Microsecond)
	}
	b.record(5 * time.Second)
	a.merge(&b)
	if a.n != 1001 || a.max != int64(5*time.Second) {
		t.Fatalf("n %d, max %v", a.n, time.Duration(a.max))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 501 * time.Microsecond}, {0.9, 901 * time.Microsecond}, {0.99, 991 * time.Microsecond}, {1, 5 * time.Second}} {
		got := a.quantile(c.q)
		// Within the histogram's resolution, and never below the value.
		if got < c.want || float64(got) > float64(c.want)*(1+1.0/histSub) {
			t.Errorf("quantile(%v) = %v, want %v to within 1/%d", c.q, got, c.want, histSub)
		}
	}
	var small histogram
	small.record(3)
	small.record(-1)
	if got := small.quantile(1); got != 3 {
		t.Errorf("small values: max quantile %v, want 3ns", got)
	}
	for i := range histBuckets {
		if i > 0 && histUpper(i) <= histUpper(i-1) {
			t.Fatalf("bucket %d's upper bound %d is not above bucket %d's %d", i, histUpper(i), i-1, histUpper(i-1))
		}
		if histIndex(histUpper(i)) != i {
			t.Fatalf("bucket %d's upper bound %d falls in bucket %d", i, histUpper(i), histIndex(histUpper(i)))
		}
	}
}

func TestReadResponse(t *testing.T) {
	// Each case is read twice from one stream, as answers on one
	// keep-alive connection are: the framing must end each exactly.
	cases := []struct {
		name, raw  string
		status     int
		keep, once bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", 200, true, false},
		{"chunked with trailer", "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: 1\r\n\r\n", 401, true, false},
		{"no body", "HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n", 204, true, false},
		{"connection close", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", 200, false, false},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 200, true, false},
		{"body to the end", "HTTP/1.1 200 OK\r\n\r\nall of it", 200, false, true},
	}
	for _, c := range cases {
		raw := c.raw + c.raw
		if c.once {
			raw = c.raw
		}
		br := bufio.NewReader(strings.NewReader(raw))
		for i := 0; i < 2 && (i == 0 || !c.once); i++ {
			status, keep, err := readResponse(br)
			if err != nil || status != c.status || keep != c.keep {
				t.Errorf("%s, answer %d: status %d, keep %v, err %v; want %d, %v", c.name, i+1, status, keep, err, c.status, c.keep)
			}
		}
		if rest, _ := br.Peek(1); len(rest) != 0 {
			t.Errorf("%s: %q left unread", c.name, rest)
		}
	}
	for _, bad := range []string{"", "HTTP/1.1 2x0 OK\r\n\r\n", "SSH-2.0\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"} {
		if _, _, err := readResponse(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestLoops runs both loops briefly against a local server and checks that
// every request is accounted for; it asserts nothing about time.
func TestLoops(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1)%50 == 0 {
			w.Header().Set("Connection", "close") // the client must redial
		}
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	tg := target{addr: addr, reqs: [][]byte{
		getRequest(addr, "/a", "Authorization: Bearer one"),
		getRequest(addr, "/b", "Authorization: Bearer two"),
	}}

	r := closedLoop(tg, 3, 100*time.Millisecond)
	if r.requests == 0 || r.failures != 0 || r.hist.n != r.requests {
		t.Errorf("closed loop: %d answered, %d failed (%s), %d timed", r.requests, r.failures, r.firstFailure, r.hist.n)
	}
	if served := hits.Load(); served != r.requests {
		t.Errorf("closed loop: the server answered %d, the loop counted %d", served, r.requests)
	}

	hits.Store(0)
	r = openLoop(tg, 2, 200, 200*time.Millisecond)
	if total := r.requests + r.failures + r.unsent; total != 40 || r.failures != 0 || r.lag.n != 40 {
		t.Errorf("open loop at 200/s for 200 ms: %d answered, %d failed (%s), %d unsent, %d released; want 40 answered",
			r.requests, r.failures, r.firstFailure, r.unsent, r.lag.n)
	}

	// Refusals count as failures, with the first one described.
	r = closedLoop(target{addr: addr, reqs: [][]byte{getRequest(addr, "/")}}, 1, 200*time.Millisecond)
	if r.requests != 0 || r.failures == 0 || r.firstFailure != "status 401" {
		t.Errorf("refused requests: %d answered, %d failed (%q)", r.requests, r.failures, r.firstFailure)
	}
}

func TestNginxConfigs(t *testing.T) {
	shipped, err := os.ReadFile("../../deploy/nginx/latchkey.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf, main, err := nginxConfigs(string(shipped), "/tmp/x", "127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003", "127.0.0.1:1004")
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{nginxConfLatchkey, nginxConfListen, nginxConfAPI} {
		if strings.Contains(conf, old) {
			t.Errorf("the rewritten configuration still has %s", old)
		}
	}
	for _, want := range []string{"server 127.0.0.1:1001;", "listen 127.0.0.1:1002;", "server 127.0.0.1:1004;", "auth_request /_latchkey/authorize;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("the rewritten configuration lacks %q", want)
		}
	}
	// Only the addresses change.
	back := strings.NewReplacer("127.0.0.1:1001", nginxConfLatchkey, "127.0.0.1:1002", nginxConfListen, "127.0.0.1:1004", nginxConfAPI).Replace(conf)
	if back != string(shipped) {
		t.Error("the rewrite changed more than the three addresses")
	}
	for _, want := range []string{"include /tmp/x/latchkey.conf;", "listen 127.0.0.1:1003;", "proxy_pass http://protected_api;"} {
		if !strings.Contains(main, want) {
			t.Errorf("the main configuration lacks %q", want)
		}
	}
	for _, line := range strings.Split(strings.SplitN(main, "include", 2)[1], "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "auth_request") {
			t.Errorf("the plain server uses auth_request: %q", line)
		}
	}
	if _, _, err := nginxConfigs("server { listen 127.0.0.1:8081; }", "/tmp/x", "a", "b", "c", "d"); err == nil {
		t.Error("a configuration without Latchkey's address: no error")
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions("all", nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.duration != 5*time.Second || o.rounds != 3 || o.conc != 16 || o.keys != 10000 || o.createsPerSec != 100 || o.cred != "bearer" {
		t.Errorf("defaults: %+v", o)
	}
	for _, args := range [][]string{
		{"-duration", "0s"}, {"-duration", "11m"}, {"-rounds", "0"}, {"-concurrency", "0"},
		{"-keys", "0"}, {"-keys", "2000000"}, {"-rate", "-1"}, {"-cred", "jwt"}, {"-creates-per-sec", "0"}, {"extra"},
	} {
		if _, err := parseOptions("all", args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}
