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
