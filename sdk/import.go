package sdk

import (
	"context"
	"net/http"
)

// MaxImportBatch is the most keys one ImportKeys call takes.
const MaxImportBatch = 1000

// Hash algorithms an imported key's Hash may be in.
const (
	HashSHA256Hex    = "sha256-hex"
	HashSHA256Base64 = "sha256-base64"
	HashBcrypt       = "bcrypt"
	HashArgon2id     = "argon2id"
)

// ImportKey is one key brought in from another system: a CreateKeyRequest
// with the key's own ID (kept, if given: give it, so that an import run
// twice skips what it made) and either its Secret in plaintext or Hash, the
// other system's hash of it, in HashAlgorithm. A key imported as a bcrypt
// or Argon2id hash needs its ID: its holders present ID:secret until its
// first use, when Latchkey adopts the secret and a bare secret works too.
type ImportKey struct {
	CreateKeyRequest
	ID            string `json:"id,omitempty"`
	Secret        string `json:"secret,omitempty"`
	Hash          string `json:"hash,omitempty"`
	HashAlgorithm string `json:"hashAlgorithm,omitempty"`
}

// ImportStatus says what became of one imported key.
type ImportStatus string

// The statuses, and the reasons a key is skipped.
const (
	ImportCreated ImportStatus = "created"
	ImportSkipped ImportStatus = "skipped"
	ImportFailed  ImportStatus = "failed"

	SkipIDExists     = "id_exists"
	SkipSecretExists = "secret_exists"
)

// ImportItemResult is the outcome of the key at Index in the request.
type ImportItemResult struct {
	Index  int          `json:"index"`
	Status ImportStatus `json:"status"`
	// ID is the key's, unless it failed without one being given.
	ID string `json:"id,omitempty"`
	// Reason says why a key was skipped: SkipIDExists or SkipSecretExists.
	Reason string `json:"reason,omitempty"`
	// Error says why a key failed, as the server's errors do.
	Error *ErrorBody `json:"error,omitempty"`
}

// ErrorBody is the server's error object: a code, a message, and the
// fields at fault.
type ErrorBody struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Fields  []FieldError `json:"fields,omitempty"`
}

// ImportResult is the answer of ImportKeys: counts, and one result per key
// in the order sent.
type ImportResult struct {
	Created int                `json:"created"`
	Skipped int                `json:"skipped"`
	Failed  int                `json:"failed"`
	Results []ImportItemResult `json:"results"`
}

// ImportKeys imports up to MaxImportBatch keys (POST /v1/keys/import). Each
// key succeeds, is skipped or fails on its own, and the result says which;
// an error means the request as a whole was refused or not answered, in
// which case some keys may have been made: sending the same keys again
// skips them.
func (c *Client) ImportKeys(ctx context.Context, keys []ImportKey) (*ImportResult, error) {
	var out ImportResult
	body := struct {
		Keys []ImportKey `json:"keys"`
	}{keys}
	if err := c.do(ctx, http.MethodPost, "/v1/keys/import", nil, body, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}
