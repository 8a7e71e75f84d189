// Package ulid makes ULIDs: 48 bits of Unix milliseconds then 80 random
// bits, as 26 characters of Crockford base32, so that ids sort by the time
// they were made. Rebilly-style key ids and audit event ids are ULIDs.
package ulid

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// crockford is the ULID alphabet: Crockford's base32.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// New returns a ULID for now with 80 bits from crypto/rand.
func New() string {
	var random [10]byte
	if _, err := rand.Read(random[:]); err != nil {
		panic("ulid: crypto/rand failed: " + err.Error())
	}
	return encode(uint64(time.Now().UnixMilli()), random)
}

// Monotonic makes ULIDs that sort in the order they were made, even within
// one millisecond (and if the clock steps back): within a millisecond the
// random part is incremented, as the ULID specification's monotonic mode
// does. Safe for concurrent use.
type Monotonic struct {
	mu     sync.Mutex
	ms     uint64
	random [10]byte
}

// New returns a ULID for t greater than every one m made before.
func (m *Monotonic) New(t time.Time) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := uint64(t.UnixMilli())
	if ms > m.ms {
		m.ms = ms
		if _, err := rand.Read(m.random[:]); err != nil {
			panic("ulid: crypto/rand failed: " + err.Error())
		}
		// Leave room to increment: the top bit starts clear.
		m.random[0] &= 0x7f
	} else {
		for i := len(m.random) - 1; i >= 0; i-- {
			m.random[i]++
			if m.random[i] != 0 {
				break
			}
		}
	}
	return encode(m.ms, m.random)
}

// encode writes 48 bits of ms and 80 random bits as 26 characters of 5
// bits; the first character carries 3.
func encode(ms uint64, random [10]byte) string {
	var b [16]byte
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	copy(b[6:], random[:])
	var out [26]byte
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
