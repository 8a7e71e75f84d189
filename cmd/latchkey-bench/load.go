package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// conn is one keep-alive HTTP/1.1 connection that speaks just enough of the
// protocol to send prepared requests and read their answers: a status line,
// headers, and a body framed by Content-Length, chunked encoding or the end
// of the connection. It allocates nothing per request, so that the load
// generator costs as little CPU as it can: on a small machine it shares the
// cores with the server it measures. It redials when the server closes.
type conn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	// dials counts connections opened, the first included.
	dials int
}

func newConn(addr string) *conn { return &conn{addr: addr} }

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// do sends req, a whole HTTP/1.1 request, and reads the answer; it returns
// its status.
func (c *conn) do(req []byte) (int, error) {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, err
		}
		c.dials++
		c.c = nc
		if c.br == nil {
			c.br = bufio.NewReaderSize(nc, 16<<10)
		} else {
			c.br.Reset(nc)
		}
	}
	// A generous deadline, so that a stuck server ends a run instead of
	// hanging it.
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write(req); err != nil {
		c.close()
		return 0, err
	}
	status, keep, err := readResponse(c.br)
	if err != nil || !keep {
		c.close()
	}
	return status, err
}

var errMalformed = errors.New("malformed HTTP response")

// readResponse reads one response to a GET or POST and discards its body. keep
// reports whether the connection may carry another request.
func readResponse(br *bufio.Reader) (status int, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, errMalformed
	}
	for _, ch := range line[9:12] {
		if ch < '0' || ch > '9' {
			return 0, false, errMalformed
		}
		status = status*10 + int(ch-'0')
	}
	keep = line[7] == '1' // HTTP/1.1 keeps the connection unless told otherwise
	length, chunked := int64(-1), false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return status, false, errMalformed
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, perr := strconv.ParseInt(string(value), 10, 64)
			if perr != nil || n < 0 {
				return status, false, errMalformed
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keep = true
			}
		}
	}
	switch {
	case status/100 == 1 || status == 204 || status == 304:
		return status, keep, nil
	case chunked:
		return status, keep, discardChunked(br)
	case length >= 0:
		_, err = br.Discard(int(length))
		return status, keep, err
	default: // the body ends with the connection
		_, err = io.Copy(io.Discard, br)
		return status, false, err
	}
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return errMalformed
		}
		if size == 0 { // trailers, then an empty line
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(size) + 2); err != nil { // the data and its CRLF
			return err
		}
	}
}

// getRequest builds a GET request with the given extra header lines (each
// "Name: value").
func getRequest(addr, path string, headers ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: latchkey-bench\r\n", path, addr)
	for _, h := range headers {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// target is what a run sends load to: an address and the requests to send,
// each worker going round them from its own starting point.
type target struct {
	name string
	addr string
	reqs [][]byte
}

// result is what one run measured.
type result struct {
	requests int64 // answered with 200
	failures int64 // another status, or a broken connection
	// firstFailure describes the first failure, for the report.
	firstFailure string
	elapsed      time.Duration
	hist         histogram
	// lag is how late the open-loop dispatcher released requests, against
	// their schedule (open loop only).
	lag histogram
	// unsent counts open-loop requests dropped because the run overran
	// its hard stop.
	unsent int64
	dials  int
	cpu    cpuUse
	// slowest is the largest latency among the requests released in each
	// second of the run (open loop only).
	slowest []time.Duration
}

func (r *result) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// worker is one connection's share of a run.
type worker struct {
	c            *conn
	hist, lag    histogram
	ok, failed   int64
	unsent       int64
	firstFailure string
	slowest      []time.Duration
}

func (w *worker) send(req []byte) (time.Time, bool) {
	status, err := w.c.do(req)
	done := time.Now()
	switch {
	case err != nil:
		w.fail(err.Error())
		return done, false
	case status != 200:
		w.fail(fmt.Sprintf("status %d", status))
		return done, false
	}
	w.ok++
	return done, true
}

// noteSecond keeps the largest latency of the requests released in each
// second of an open-loop run, to show when a run's slowest answers came.
func (w *worker) noteSecond(sec int, lat time.Duration) {
	for len(w.slowest) <= sec {
		w.slowest = append(w.slowest, 0)
	}
	w.slowest[sec] = max(w.slowest[sec], lat)
}

func (w *worker) fail(why string) {
	w.failed++
	if w.firstFailure == "" {
		w.firstFailure = why
	}
}

func collect(workers []*worker, start, end time.Time) *result {
	r := &result{elapsed: end.Sub(start)}
	for _, w := range workers {
		r.requests += w.ok
		r.failures += w.failed
		r.unsent += w.unsent
		r.dials += w.c.dials
		if r.firstFailure == "" {
			r.firstFailure = w.firstFailure
		}
		r.hist.merge(&w.hist)
		r.lag.merge(&w.lag)
		for sec, lat := range w.slowest {
			for len(r.slowest) <= sec {
				r.slowest = append(r.slowest, 0)
			}
			r.slowest[sec] = max(r.slowest[sec], lat)
		}
		w.c.close()
	}
	return r
}

// closedLoop sends requests to t over conc keep-alive connections for d,
// each connection sending its next request as soon as the last is
// answered: the most the server (or the load generator) can do.
func closedLoop(t target, conc int, d time.Duration) *result {
	workers := make([]*worker, conc)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range workers {
		w := &worker{c: newConn(t.addr)}
		workers[i] = w
		wg.Add(1)
		go func(next int) {
			defer wg.Done()
			now := time.Now()
			for now.Before(deadline) {
				done, _ := w.send(t.reqs[next])
				w.hist.record(done.Sub(now))
				now = done
				if next++; next == len(t.reqs) {
					next = 0
				}
			}
		}(i * len(t.reqs) / conc)
	}
	wg.Wait()
	return collect(workers, start, time.Now())
}

// openLoop sends requests to t at a fixed rate for d, whatever the server's
// pace: a dispatcher releases each request when it is due, and whichever of
// the conc connections is free sends it. A request that finds none free
// waits, and that wait counts in its latency, which is measured from its
// release (so a slow server cannot slow the load down and hide its own
// latency). Go's timers wake about once a millisecond here, so requests are
// released in small batches each time the dispatcher wakes; how late each
// release was against the schedule is kept apart, in lag. Requests still
// queued 5 s after the end are counted as unsent.
func openLoop(t target, conc int, rate float64, d time.Duration) *result {
	total := int(rate * d.Seconds())
	if total < 1 {
		total = 1
	}
	interval := time.Duration(float64(time.Second) / rate)
	type job struct {
		req      []byte
		released time.Time
	}
	// Room for every request of a run at ordinary rates; past a million
	// waiting, the dispatcher waits too (and its lag says so).
	due := make(chan job, min(total, 1<<20))
	workers := make([]*worker, conc)
	var wg sync.WaitGroup
	start := time.Now()
	hardStop := start.Add(d + 5*time.Second)
	for i := range workers {
		w := &worker{c: newConn(t.addr)}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range due {
				if time.Now().After(hardStop) {
					w.unsent++
					continue
				}
				done, _ := w.send(j.req)
				lat := done.Sub(j.released)
				w.hist.record(lat)
				w.noteSecond(int(j.released.Sub(start)/time.Second), lat)
			}
		}()
	}
	// The dispatcher records lag in a histogram of its own, merged into
	// the first worker's once it is done.
	var lag histogram
	next := 0
	for i := 0; i < total; {
		now := time.Now()
		n := min(int(now.Sub(start)/interval)+1, total) // requests due by now
		for ; i < n; i++ {
			lag.record(now.Sub(start.Add(time.Duration(i) * interval)))
			due <- job{req: t.reqs[next], released: now}
			if next++; next == len(t.reqs) {
				next = 0
			}
		}
		if i < total {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		}
	}
	close(due)
	wg.Wait()
	end := time.Now()
	workers[0].lag.merge(&lag)
	r := collect(workers, start, end)
	// The rate is what was scheduled; elapsed is the schedule's length, so
	// that throughput reads as the rate achieved.
	r.elapsed = max(d, time.Duration(total-1)*interval)
	return r
}

// cpuUse is the CPU time the load generator and the servers used during a
// run, as fractions of one core.
type cpuUse struct {
	client, server float64
	// idle and steal are the whole machine's idle time and the time the
	// hypervisor gave its CPUs to others, as fractions of all its CPUs.
	idle, steal float64
	// others is the CPU time, in cores, that went to neither the servers
	// nor the load generator: other processes, and kernel work not charged
	// to a process.
	others float64
	// serverPerReq is the servers' CPU time per answered request.
	serverPerReq time.Duration
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs fn and notes the CPU time that this process and the
// processes in servers (with their children) used meanwhile.
func measure(servers []int, fn func() *result) *result {
	c0, s0, m0 := selfCPU(), treeCPU(servers), machineCPU()
	r := fn()
	c1, s1, m1 := selfCPU(), treeCPU(servers), machineCPU()
	if total := m1.total - m0.total; total > 0 {
		r.cpu.idle = float64(m1.idle-m0.idle) / float64(total)
		r.cpu.steal = float64(m1.steal-m0.steal) / float64(total)
	}
	secs := r.elapsed.Seconds()
	if secs > 0 {
		r.cpu.client = (c1 - c0).Seconds() / secs
		if len(servers) > 0 {
			r.cpu.server = (s1 - s0).Seconds() / secs
		}
		busy := time.Duration(m1.total-m0.total-(m1.idle-m0.idle)) * clockTick
		r.cpu.others = max(0, busy.Seconds()/secs-r.cpu.client-r.cpu.server)
	}
	if r.requests > 0 && len(servers) > 0 {
		r.cpu.serverPerReq = (s1 - s0) / time.Duration(r.requests)
	}
	return r
}
