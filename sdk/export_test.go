package sdk

import "time"

// SetCacheClock makes a middleware cache built from o read the time from
// now instead of time.Now: tests move time on without sleeping.
func SetCacheClock(o *CacheOptions, now func() time.Time) { o.now = now }
