package latchkey

import "time"

// Code is the outcome of verifying a key, as the verify API reports it and
// as usage is counted.
type Code string

// The outcomes. Only VALID admits the request.
const (
	CodeValid                   Code = "VALID"
	CodeNotFound                Code = "NOT_FOUND"
	CodeExpired                 Code = "EXPIRED"
	CodeDisabled                Code = "DISABLED"
	CodeInsufficientPermissions Code = "INSUFFICIENT_PERMISSIONS"
	CodeIPNotAllowed            Code = "IP_NOT_ALLOWED"
	CodeRateLimited             Code = "RATE_LIMITED"
)

// Codes lists every outcome, in the order reports show them.
var Codes = []Code{CodeValid, CodeNotFound, CodeExpired, CodeDisabled, CodeInsufficientPermissions, CodeIPNotAllowed, CodeRateLimited}

// UsageCount is how many verifications of one key ended with one outcome
// within one minute (Minute is that minute's start, UTC).
type UsageCount struct {
	KeyID  string
	Minute time.Time
	Code   Code
	Count  int64
}

// UsageBucket is the width of the buckets a usage summary sums into:
// minutes, hours or days, in UTC.
type UsageBucket string

// The bucket widths.
const (
	BucketMinute UsageBucket = "minute"
	BucketHour   UsageBucket = "hour"
	BucketDay    UsageBucket = "day"
)

// Width is the bucket's duration; 0 for an unknown bucket.
func (b UsageBucket) Width() time.Duration {
	switch b {
	case BucketMinute:
		return time.Minute
	case BucketHour:
		return time.Hour
	case BucketDay:
		return 24 * time.Hour
	}
	return 0
}

// MaxUsageKeys bounds UsageQuery.KeyIDs: a page of keys, not a whole
// account (which AccountID alone selects).
const MaxUsageKeys = 100

// UsageQuery selects usage counts and sums them into buckets.
type UsageQuery struct {
	// AccountID selects the counts of every key in the account (of every
	// owner in it). Required.
	AccountID string
	// KeyIDs, if any, narrows the selection to these keys of the account;
	// at most MaxUsageKeys.
	KeyIDs []string
	// From and To bound the minutes counted: [From, To). From is rounded
	// down to the bucket.
	From, To time.Time
	// Bucket is the width counts are summed into; UsageCount.Minute is then
	// the bucket's start.
	Bucket UsageBucket
	// ByKey keeps each key's counts apart (UsageCount.KeyID set); otherwise
	// they are summed over keys and KeyID is "".
	ByKey bool
}

// Valid reports what is wrong with q, as EINVALID, or nil. Stores call it
// before any SQL runs.
func (q UsageQuery) Valid() error {
	switch {
	case q.AccountID == "":
		return Errorf(EINVALID, "a usage query names its account")
	case len(q.KeyIDs) > MaxUsageKeys:
		return Errorf(EINVALID, "a usage query names at most %d keys", MaxUsageKeys)
	case q.Bucket.Width() == 0:
		return Errorf(EINVALID, "a usage bucket is minute, hour or day")
	case !q.From.Before(q.To):
		return Errorf(EINVALID, "a usage query's from must be before its to")
	}
	return nil
}
