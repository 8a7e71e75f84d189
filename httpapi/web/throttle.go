package web

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/ratelimit"
)

// Throttle counts failed authentications per client address, in memory
// (no database write per failure), and says when an address has failed
// more than its limit allows: from then on, until the window slides past,
// its failures are answered 429 with Retry-After instead of 401. A request
// whose credential is proven is never refused by the throttle, so a valid
// client is not slowed by an attacker that shares its address (a NAT, a
// proxy); the attacker is told to back off, and each of its guesses of a
// 256-bit secret stays as hopeless as before.
//
// IPv6 clients are counted by their /64, the block one subscriber is
// usually given, so that an attacker cannot escape the count by walking
// its own addresses. A nil *Throttle throttles nothing.
type Throttle struct {
	limit  latchkey.RateLimit
	counts *ratelimit.Limiter
	calls  atomic.Uint64
	// full says the last sweep left maxThrottled addresses or more: new
	// ones are not counted until a sweep finds room. Counting every shard
	// on every failure would cost more than the failure.
	full atomic.Bool
}

// DefaultFailedAuthLimit is the threshold unless configured: 30 failed
// authentications per minute from one address. A client that mistypes a
// key, or a deployment rolling out a rotated one, stays far below it.
var DefaultFailedAuthLimit = latchkey.RateLimit{Limit: 30, Period: time.Minute}

// maxThrottled bounds the addresses counted at once, give or take the
// sweepEvery failures between two checks; past it, addresses are not
// counted (and so not throttled) until a sweep makes room. Each costs a few
// hundred bytes.
const maxThrottled = 100_000

// sweepEvery is how many failures pass between sweeps of idle addresses.
const sweepEvery = 1024

// NewThrottle returns a throttle with this limit per address, or nil (no
// throttling) for a zero limit.
func NewThrottle(limit latchkey.RateLimit) *Throttle {
	if limit.Limit <= 0 {
		return nil
	}
	return &Throttle{limit: limit, counts: ratelimit.New()}
}

// Fail counts one failed authentication from addr at now. It returns nil
// while the address is within its limit, else an ETHROTTLED error saying
// how long to wait.
func (t *Throttle) Fail(addr netip.Addr, now time.Time) error {
	if t == nil || !addr.IsValid() {
		return nil
	}
	if t.calls.Add(1)%sweepEvery == 0 {
		t.counts.Sweep(now)
		t.full.Store(t.counts.Len() >= maxThrottled)
	}
	if t.full.Load() {
		return nil
	}
	key := throttleKey(addr)
	d := t.counts.Allow(context.Background(), key, t.limit, 1, now)
	if d.Allowed {
		return nil
	}
	wait := d.RetryAfter
	return &latchkey.Error{Code: latchkey.ETHROTTLED, RetryAfter: wait, Message: fmt.Sprintf(
		"Too many failed authentications from this address; retry after %d seconds.", RetryAfterSeconds(wait))}
}

// throttleKey is what an address is counted under: itself for IPv4, its
// /64 for IPv6.
func throttleKey(addr netip.Addr) string {
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// RetryAfterSeconds is d in whole seconds, rounded up, at least 1: the value
// of a Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// SetThrottled sets the Retry-After of a 429 for an ETHROTTLED error.
func SetThrottled(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds(latchkey.ErrorRetryAfter(err))))
}
