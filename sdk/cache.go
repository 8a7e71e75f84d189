package sdk

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

// verdictCache keeps VALID verdicts for a bounded time, in bounded number.
// It is safe for concurrent use.
type verdictCache struct {
	ttl  time.Duration
	max  int
	now  func() time.Time
	hkey [32]byte // HMAC key, random per cache

	mu      sync.Mutex
	entries map[[32]byte]cacheEntry
}

type cacheEntry struct {
	res     *VerifyResult
	expires time.Time
}

func newVerdictCache(o CacheOptions) *verdictCache {
	c := &verdictCache{ttl: min(o.TTL, MaxCacheTTL), max: o.MaxEntries, now: o.now, entries: map[[32]byte]cacheEntry{}}
	if c.max <= 0 {
		c.max = defaultCacheEntries
	}
	if c.now == nil {
		c.now = time.Now
	}
	_, _ = rand.Read(c.hkey[:]) // crypto/rand.Read never fails
	return c
}

// key is the entry key of a request: an HMAC of everything the verdict
// depends on, each part length-prefixed so that no two requests share one.
func (c *verdictCache) key(cred, ip string, apps, perms []string) [32]byte {
	mac := hmac.New(sha256.New, c.hkey[:])
	var buf []byte
	str := func(s string) {
		buf = binary.AppendUvarint(buf[:0], uint64(len(s)))
		mac.Write(buf)
		mac.Write([]byte(s))
	}
	list := func(l []string) {
		buf = binary.AppendUvarint(buf[:0], uint64(len(l)))
		mac.Write(buf)
		for _, s := range l {
			str(s)
		}
	}
	str(cred)
	str(ip)
	list(apps)
	list(perms)
	var out [32]byte
	mac.Sum(out[:0])
	return out
}

// get returns a copy of the verdict under k, if it has not expired.
func (c *verdictCache) get(k [32]byte) (*VerifyResult, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, k)
		return nil, false
	}
	return e.res.clone(), true
}

// put keeps a copy of a VALID verdict for the TTL, or until the key
// expires if that is sooner.
func (c *verdictCache) put(k [32]byte, res *VerifyResult) {
	now := c.now()
	expires := now.Add(c.ttl)
	if res.ExpiresAt != nil && res.ExpiresAt.Before(expires) {
		expires = *res.ExpiresAt
	}
	if !now.Before(expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		c.makeRoom(now)
	}
	c.entries[k] = cacheEntry{res: res.clone(), expires: expires}
}

// makeRoom empties a full cache down to three quarters of its bound:
// expired entries first, then arbitrary ones (map order), so that the work
// is amortized over the next quarter's puts. Called with mu held.
func (c *verdictCache) makeRoom(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	target := c.max * 3 / 4
	for k := range c.entries {
		if len(c.entries) <= target {
			break
		}
		delete(c.entries, k)
	}
}

// len is the number of entries, expired ones included.
func (c *verdictCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
