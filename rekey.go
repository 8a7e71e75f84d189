package latchkey

import (
	"encoding/hex"
	"strings"
)

// SealedValue is one sealed value as Store.Rekey passes it: the record it
// belongs to, as secret.Record names it ("key" with the key's id,
// "webhook" with the webhook's id, "meta" with the value's name), and, for
// a key's secret, the hash it is found by.
type SealedValue struct {
	Kind   string
	ID     string
	Hash   []byte // a key secret's lookup hash; nil for the others
	Sealed []byte
}

// RekeyBatch is one call of Store.Rekey: a batch of sealed values to pass
// through Fn, and meta values to check and change in the same transaction.
type RekeyBatch struct {
	// After is where the batch begins: "" for the first value, else what
	// the previous call returned. Values come key secrets first (by hash),
	// then webhook secrets (by id), then the meta values named in
	// MetaNames (by name).
	After string
	// Limit caps the values passed to Fn. 0 passes every value from After
	// on, in one transaction that holds off every writer of sealed values
	// until it commits: no secret or webhook can be added or changed
	// between the last value read and the commit. Below 0 is EINVALID.
	Limit int
	// Except, if set, leaves out the values whose sealed bytes begin with
	// it: the header of the key being rotated to (secret.Keyring's
	// SealHeader), whose values need nothing.
	Except []byte
	// MetaNames are the meta values that hold sealed values, passed after
	// the others if they are set.
	MetaNames []string
	// Fn may change v.Sealed, and for a key's secret v.Hash; the store
	// writes the value back if either changed, unless the row changed or
	// went away meanwhile. If Fn returns an error, nothing of the batch
	// changes and Rekey returns that error. Fn runs inside the
	// transaction and must not call the store. A nil Fn reads no value:
	// the call only checks Require and applies SetMeta and DeleteMeta.
	Fn func(v *SealedValue) error

	// Require, checked first: each named meta value must hold exactly
	// this value (nil: must not be set), else Rekey returns ECONFLICT
	// (subject "meta") and changes nothing.
	Require map[string][]byte
	// SetMeta sets meta values and DeleteMeta deletes them, after the
	// values, in the same transaction.
	SetMeta    map[string][]byte
	DeleteMeta []string
}

// SealHeaderLen is the length of the header that begins every value
// sealed in the current format (secret.SealHeaderLen): a format byte and
// the id of the master key that sealed it. The stores read it to refuse a
// secret sealed under a retired master key.
const SealHeaderLen = 9

// RetiredSealPrefix begins the name of the meta value that marks a master
// key as retired by a rotation: RetiredSealMeta(header).
const RetiredSealPrefix = "retired_seal_key:"

// RetiredSealMeta is the name of the meta value whose presence marks the
// master key whose sealed values begin with header as retired. Once it is
// set, every store refuses, in the transaction that tries it, to add or
// change a key secret or a webhook secret whose sealed value begins with
// that header: a server that has not yet heard of a finished rotation
// cannot store a secret that no server could open any more. The error's
// text holds RetiredSealMessage.
func RetiredSealMeta(header []byte) string {
	return RetiredSealPrefix + strings.ToUpper(hex.EncodeToString(header))
}

// RetiredSealMessage is in the text of the error a store returns when it
// refuses a value sealed under a retired master key.
const RetiredSealMessage = "sealed under a retired master key"
