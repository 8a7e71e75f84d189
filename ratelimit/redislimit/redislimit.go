// Package redislimit enforces per-key rate limits across a fleet of nodes,
// exactly, by keeping each key's counters in one Redis that every node
// shares.
//
// # Algorithm and guarantee
//
// The algorithm is package ratelimit's, unchanged: a key's period is cut
// into 63 sub-windows, a ring of 64 counts them, and a call is admitted if
// the units in all 64, plus its cost, fit in the limit. So is the
// guarantee: for one key whose limit and period stay the same, the units
// admitted within any interval of length period never exceed the limit,
// whichever nodes admitted them (see package ratelimit for the proof, and
// for what a change of limit or period does). Each call is one Lua script
// (EVALSHA, falling back to EVAL when Redis has not cached it), which Redis
// runs atomically: one round trip per rate-limited verification, and no
// two nodes ever decide on the same counts.
//
// Times are counted in microseconds, not nanoseconds: a Lua number is a
// double, exact only up to 2^53, and microseconds since 1970 fit in it. A
// sub-window's width is period/63 rounded up to the microsecond; the proof
// carries over with times so truncated (a unit at t is counted at the
// microsecond that holds t, which is never later than t).
//
// # Whose clock
//
// Redis's: the script reads TIME, so every node's calls are placed on one
// clock. With the callers' clocks, a node whose clock ran ahead would move
// a key's ring forward and let units stop counting early on every other
// node: the bound would hold only up to the nodes' skew. The now passed to
// Allow is used only to express Reset in the caller's clock (Reset less
// now is the wait Redis computed). Options.CallerClock uses the callers'
// times instead; it exists so that tests can drive time, and is right only
// where every caller reads one clock.
//
// # Memory
//
// Each key is a hash of at most 68 small fields under Options.Prefix. It
// is given a time to live (PEXPIRE) on every write: 64 sub-windows and a
// second after its newest admission, when everything in it has stopped
// counting; so Redis holds only keys that still count, with no sweep.
//
// # When Redis cannot be reached
//
// Allow answers anyway: it falls back to a limiter of the node's own
// (package ratelimit), logging a warning once per outage and a line when
// Redis answers again. The key was verified, so refusing it (or answering
// with a server error) would turn a Redis outage into an outage of every
// rate-limited key. The price is the bound: while Redis is unreachable each
// node enforces the limit on its own, so a fleet of N nodes admits up to N
// times the limit; and the units admitted locally are not known to Redis
// afterwards, so the fleet-wide bound holds again for periods that begin
// after the outage ended. A Redis restarted without persistence forgets its
// counts in the same way. After a failure, calls go straight to the local
// limiter for Options.RetryInterval, so that an unreachable Redis costs
// one timed-out call per interval, not one per verification.
package redislimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/redis/go-redis/v9"
)

//go:embed allow.lua
var allowSource string

// allowScript is loaded once per Redis (EVALSHA), by its SHA-1.
var allowScript = redis.NewScript(allowSource)

// DefaultPrefix is what keys' hashes are named with, before the key's id.
const DefaultPrefix = "latchkey:ratelimit:"

// Options configures a Limiter; the zero value is valid.
type Options struct {
	// Prefix is put before every key's id to name its hash in Redis:
	// DefaultPrefix if empty. Nodes of one fleet must use the same.
	Prefix string
	// Timeout bounds each call to Redis; past it the call falls back. 0:
	// only the caller's context bounds it.
	Timeout time.Duration
	// RetryInterval is how long calls go straight to the fallback after
	// Redis failed one; 0: every call tries Redis.
	RetryInterval time.Duration
	// Logger receives the outage warnings: slog.Default() if nil.
	Logger *slog.Logger
	// CallerClock counts in the times passed to Allow rather than in
	// Redis's clock: for tests (see the package documentation).
	CallerClock bool
}

// Limiter is a rate limiter whose counts are kept in Redis. It is safe for
// concurrent use.
type Limiter struct {
	rdb      redis.Scripter
	opts     Options
	fallback *ratelimit.Limiter
	// outage is set while Redis is failing (the warning was logged), and
	// retryAt (Unix nanoseconds) is when a call tries Redis again.
	outage  atomic.Bool
	retryAt atomic.Int64
}

// New returns a limiter on rdb: a *redis.Client, or any client that runs
// scripts (a cluster client works: each call touches one key).
func New(rdb redis.Scripter, opts Options) *Limiter {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Limiter{rdb: rdb, opts: opts, fallback: ratelimit.New()}
}

// Allow decides whether keyID may spend cost units now under limit, and
// counts them if so, fleet-wide: it is core.RateLimiter's method. When
// Redis fails, it decides with the node's own limiter (see the package
// documentation).
func (l *Limiter) Allow(ctx context.Context, keyID string, limit latchkey.RateLimit, cost int, now time.Time) ratelimit.Decision {
	if limit.Limit <= 0 || limit.Period <= 0 {
		return ratelimit.Decision{Limit: limit.Limit} // nothing to ask Redis
	}
	if l.outage.Load() && time.Now().UnixNano() < l.retryAt.Load() {
		return l.fallback.Allow(ctx, keyID, limit, cost, now)
	}
	d, err := l.Try(ctx, keyID, limit, cost, now)
	if err == nil {
		if l.outage.CompareAndSwap(true, false) {
			l.opts.Logger.Info("rate limits: Redis answers again; limits hold across the fleet for periods that begin now")
		}
		return d
	}
	// Neither the caller giving up nor the client closed at shutdown:
	// Redis failed.
	if ctx.Err() == nil && !errors.Is(err, redis.ErrClosed) {
		l.retryAt.Store(time.Now().Add(l.opts.RetryInterval).UnixNano())
		if l.outage.CompareAndSwap(false, true) {
			l.opts.Logger.Warn("rate limits: Redis cannot be reached; each node enforces limits on its own until it can, "+
				"so a fleet admits up to its number of nodes times a limit", "err", err)
		}
	}
	return l.fallback.Allow(ctx, keyID, limit, cost, now)
}

// Try is Allow without the fallback: one round trip to Redis, or an error
// if it failed, in which case nothing was counted or it is unknown whether
// it was.
func (l *Limiter) Try(ctx context.Context, keyID string, limit latchkey.RateLimit, cost int, now time.Time) (ratelimit.Decision, error) {
	d := ratelimit.Decision{Limit: limit.Limit}
	if limit.Limit <= 0 || limit.Period <= 0 {
		return d, nil
	}
	period := int64(limit.Period)
	nowArg := ""
	if l.opts.CallerClock {
		nowArg = strconv.FormatInt(now.UnixMicro(), 10)
	}
	if l.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.opts.Timeout)
		defer cancel()
	}
	r, err := allowScript.Run(ctx, l.rdb, []string{l.opts.Prefix + keyID},
		min(limit.Limit, math.MaxUint32), // as package ratelimit: counts are 32-bit
		max(cost, 1),                     // never a refund
		period,
		ceilDiv(period, ratelimit.SubWindows*int64(time.Microsecond)), // a sub-window's width, µs
		ceilDiv(period, int64(time.Microsecond)),                      // the period, µs
		nowArg,
	).Int64Slice()
	if err != nil {
		return d, err
	}
	if len(r) != 4 {
		return d, fmt.Errorf("redislimit: the script answered %d values, want 4", len(r))
	}
	allowed, remaining, reset, redisNow := r[0], r[1], r[2], r[3]
	d.Allowed, d.Remaining = allowed == 1, int(remaining)
	if reset >= 0 {
		if l.opts.CallerClock {
			d.Reset = time.UnixMicro(reset)
		} else {
			// Redis's clock is not ours: keep the wait it computed.
			d.Reset = now.Add(time.Duration(reset-redisNow) * time.Microsecond)
		}
		if !d.Allowed {
			d.RetryAfter = max(d.Reset.Sub(now), 0)
		}
	}
	return d, nil
}

func ceilDiv(a, b int64) int64 {
	return (a + b - 1) / b
}

// ParseURL reads a Redis URL, as go-redis does: redis://[user:password@]
// host[:port][/db], rediss:// for TLS, unix:///path/to/socket[?db=N], with
// go-redis's query options; and tunes the options with Tune. Its errors
// never hold the password.
func ParseURL(raw string) (*redis.Options, error) {
	if _, err := url.Parse(raw); err != nil {
		// url.Parse's error quotes the whole URL.
		return nil, errors.New("not a URL; want redis://[user:password@]host[:port][/db], rediss://… or unix:///path/to/redis.sock")
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		msg := err.Error()
		if pw := password(raw); pw != "" {
			msg = strings.ReplaceAll(msg, pw, "…")
		}
		return nil, errors.New(msg)
	}
	Tune(opt)
	return opt, nil
}

// Tune sets a client's options for a rate limiter, where an answer late is
// worse than the fallback's answer now, unless they were set already:
//
//   - no retry of a failed command (MaxRetries -1): a script that failed
//     after it reached Redis may have counted, and a retry would count
//     again; the fallback answers instead;
//   - a single attempt per dial (DialerRetries 1), so that a Redis that
//     refuses connections fails the call at once rather than after five
//     attempts; go-redis's pool then fails fast until it can dial again;
//   - the context's deadline bounds every call (ContextTimeoutEnabled),
//     which Options.Timeout relies on.
func Tune(opt *redis.Options) {
	if opt.MaxRetries == 0 {
		opt.MaxRetries = -1
	}
	if opt.DialerRetries == 0 {
		opt.DialerRetries = 1
	}
	opt.ContextTimeoutEnabled = true
}

// Redact returns the URL without its password, for messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	r := u.Redacted()
	if pw := password(raw); pw != "" {
		// In the query (unix:///…?password=), or repeated elsewhere.
		r = strings.ReplaceAll(strings.ReplaceAll(r, url.QueryEscape(pw), "xxxxx"), pw, "xxxxx")
	}
	return r
}

// password returns the password a Redis URL holds, in its user part or its
// query, if any.
func password(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		return pw
	}
	return u.Query().Get("password")
}
