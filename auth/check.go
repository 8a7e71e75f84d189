package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/secret"
)

// Check verifies a credential as the verify API receives it, in any form
// Latchkey accepts: a secret, an HS256 JWT, or "keyId:secret". It
// implements core.CredentialChecker: CodeValid with the key; CodeExpired or
// CodeDisabled with the key, once the credential has proven it; CodeNotFound
// with no key for anything else that proves no key. An error means the
// verifier could not decide (the store failed), and the caller must refuse.
func (v *Verifier) Check(ctx context.Context, credential string) (*latchkey.Principal, latchkey.Code, error) {
	var (
		p   *latchkey.Principal
		err error
	)
	// A warm secret is answered before its form is checked (a checksum to
	// compute): the caches hold only secrets that passed that check, and
	// nothing else can match them. A pair or a JWT is never among them.
	p, err = v.warmSecret(credential)
	if err == errCold {
		switch id, sec, isPair := strings.Cut(credential, ":"); {
		case secret.WellFormed(credential):
			p, err = v.coldSecret(ctx, credential)
		case isPair:
			if id == "" {
				return nil, latchkey.CodeNotFound, nil
			}
			p, err = v.Basic(ctx, id, sec)
		case couldBeSecret(credential):
			p, err = v.coldSecret(ctx, credential)
		default:
			p, err = v.JWT(ctx, credential)
		}
	}
	switch {
	case err == nil:
		return p, latchkey.CodeValid, nil
	case errors.Is(err, ErrKeyExpired), errors.Is(err, ErrJWTExpired), errors.Is(err, ErrJWTTooOld):
		return p, latchkey.CodeExpired, nil
	case errors.Is(err, ErrKeyDisabled):
		return p, latchkey.CodeDisabled, nil
	case latchkey.ErrorCode(err) == latchkey.EUNAUTHORIZED:
		return nil, latchkey.CodeNotFound, nil
	default:
		return nil, "", err
	}
}
