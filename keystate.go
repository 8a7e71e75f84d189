package latchkey

import (
	"slices"
	"time"
)

// KeyState is where a key stands at a moment, as the dashboard lists keys.
// Each key is in exactly one state: disabled wins over expired, expired
// over grace, grace over active.
type KeyState string

// The states.
const (
	// KeyActive authenticates, with one secret.
	KeyActive KeyState = "active"
	// KeyInGrace authenticates, and was rolled: an older secret still
	// works until its grace period ends.
	KeyInGrace KeyState = "grace"
	// KeyExpired is past its expiry.
	KeyExpired KeyState = "expired"
	// KeyDisabled is switched off.
	KeyDisabled KeyState = "disabled"
)

// KeyStates lists every state, in the order lists show them.
var KeyStates = []KeyState{KeyActive, KeyInGrace, KeyExpired, KeyDisabled}

// StateAt is k's state at now.
func (k *Key) StateAt(now time.Time) KeyState {
	switch {
	case k.Policy.Disabled:
		return KeyDisabled
	case k.Policy.ExpiresAt != nil && !now.Before(*k.Policy.ExpiresAt):
		return KeyExpired
	}
	for _, s := range k.Secrets {
		if s.ExpiresAt != nil && now.Before(*s.ExpiresAt) {
			return KeyInGrace
		}
	}
	return KeyActive
}

// KeyHygiene names a finding about a key that deserves a look. A key may
// have several.
type KeyHygiene string

// The findings.
const (
	// HygieneNeverUsed: no successful verification yet.
	HygieneNeverUsed KeyHygiene = "never_used"
	// HygieneStale: used, but not within StaleAfter.
	HygieneStale KeyHygiene = "stale"
	// HygieneNoExpiry: never expires.
	HygieneNoExpiry KeyHygiene = "no_expiry"
	// HygieneNoRateLimit: no rate limit.
	HygieneNoRateLimit KeyHygiene = "no_rate_limit"
	// HygieneUnrestricted: no ACL, so every permission within its owner.
	HygieneUnrestricted KeyHygiene = "unrestricted"
)

// KeyHygienes lists every finding, in the order the dashboard shows them.
var KeyHygienes = []KeyHygiene{HygieneNeverUsed, HygieneStale, HygieneNoExpiry, HygieneNoRateLimit, HygieneUnrestricted}

// StaleAfter is how long a used key may go unused before it is stale.
const StaleAfter = 30 * 24 * time.Hour

// Has reports whether k has finding h at now.
func (h KeyHygiene) Has(k *Key, now time.Time) bool {
	switch h {
	case HygieneNeverUsed:
		return k.LastUsedAt == nil
	case HygieneStale:
		return k.LastUsedAt != nil && k.LastUsedAt.Before(now.Add(-StaleAfter))
	case HygieneNoExpiry:
		return k.Policy.ExpiresAt == nil
	case HygieneNoRateLimit:
		return k.Policy.RateLimit == nil
	case HygieneUnrestricted:
		return k.Policy.ACL == nil
	}
	return false
}

// MaxSearchLen bounds KeyQuery.Search.
const MaxSearchLen = 100

// RecordCounts is how many records an account holds.
type RecordCounts struct {
	Apps, Integrations, Keys int
}

// KeyStats counts an account's keys (of every owner in it) at a moment: in
// all, in each state, and with each hygiene finding. It is what QueryKeys
// would count for each state and finding, in one pass.
type KeyStats struct {
	Total   int
	States  map[KeyState]int
	Hygiene map[KeyHygiene]int
}

// NewKeyStats reads KeyStats from counts in this order: the total, then
// each of KeyStates, then each of KeyHygienes, as stores query them.
func NewKeyStats(counts []int) KeyStats {
	st := KeyStats{Total: counts[0], States: map[KeyState]int{}, Hygiene: map[KeyHygiene]int{}}
	for i, state := range KeyStates {
		st.States[state] = counts[1+i]
	}
	for i, h := range KeyHygienes {
		st.Hygiene[h] = counts[1+len(KeyStates)+i]
	}
	return st
}

// ValidSelection reports what no store runs of q's Search, States and
// Hygiene, as EINVALID, or nil: a search longer than MaxSearchLen, a state
// or finding not defined here, or states or a finding without the moment
// to judge them at. Stores call it before any SQL runs.
func (q KeyQuery) ValidSelection() error {
	if len(q.Search) > MaxSearchLen {
		return Errorf(EINVALID, "a search is at most %d bytes", MaxSearchLen)
	}
	for _, st := range q.States {
		if !slices.Contains(KeyStates, st) {
			return Errorf(EINVALID, "unknown key state %q", st)
		}
	}
	if q.Hygiene != "" && !slices.Contains(KeyHygienes, q.Hygiene) {
		return Errorf(EINVALID, "unknown hygiene finding %q", q.Hygiene)
	}
	if (len(q.States) > 0 || q.Hygiene != "") && q.At.IsZero() {
		return Errorf(EINVALID, "states and hygiene are judged at a moment; none was given")
	}
	return nil
}
