package secret

import (
	"hash/crc32"
	"testing"
)

// crc32IEEE must agree with the library: the checksums of every secret
// ever issued depend on it.
func TestCRC32IEEEMatchesLibrary(t *testing.T) {
	for _, s := range []string{"", "a", "sk_live_", "sk_live_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "\xff\x00 ünï"} {
		if got, want := crc32IEEE(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("crc32IEEE(%q) = %08x, want %08x", s, got, want)
		}
	}
}

// A verification checks a secret's shape on every request: without
// allocating.
func TestWellFormedAllocatesNothing(t *testing.T) {
	s := MustGenerate(SecretKind, Live)
	if !WellFormed(s) {
		t.Fatalf("WellFormed(%q) = false", s)
	}
	if n := testing.AllocsPerRun(100, func() { WellFormed(s) }); n != 0 {
		t.Errorf("WellFormed allocates %v times", n)
	}
}
