package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/secret"
)

// masterKeyCheck names the meta value that proves which master key sealed a
// store: a constant sealed under it when the store was first opened.
const masterKeyCheck = "master_key_check"

// ErrMasterKeyMismatch is returned by CheckMasterKey when a store was sealed
// under another master key.
var ErrMasterKeyMismatch = errors.New("the master key does not match the one this database was sealed with; " +
	"start with the original key (LATCHKEY_MASTER_KEY or --master-key-file), or point --db at a new database")

// IsSealed reports whether the store was already sealed under a master key.
func IsSealed(ctx context.Context, store latchkey.Store) (bool, error) {
	_, err := store.Meta(ctx, masterKeyCheck)
	switch latchkey.ErrorCode(err) {
	case "":
		return true, nil
	case latchkey.ENOTFOUND:
		return false, nil
	default:
		return false, err
	}
}

// CheckMasterKey seals a new store under keys, or checks that an existing
// store was sealed under the same master key, so that a server started with
// the wrong key refuses to start rather than failing on every key later.
// Then it upgrades any value still sealed in an older format (see
// upgradeSealing).
func CheckMasterKey(ctx context.Context, store latchkey.Store, keys *secret.Keyring) error {
	rec := secret.MetaRecord(masterKeyCheck)
	sealed, err := store.InitMeta(ctx, masterKeyCheck, keys.Seal([]byte(masterKeyCheck), rec))
	if err != nil {
		return err
	}
	if _, err := keys.Open(sealed, rec); err != nil {
		// A store sealed before records named their kind, not yet upgraded.
		if _, err := keys.OpenLegacy(sealed, masterKeyCheck); err != nil {
			return ErrMasterKeyMismatch
		}
	}
	return upgradeSealing(ctx, store, keys)
}

// sealFormat names the meta value recording that every sealed value is
// bound to a record naming its kind as well as its id ("key:…",
// "webhook:…"); stores made before that bound values to the bare id.
const sealFormat = "seal_format"

// upgradeSealing reseals, once per store, every value sealed under its bare
// id, binding it to its record. It is idempotent, so a crash between the
// reseal and the marker, or two processes upgrading at once, do no harm.
func upgradeSealing(ctx context.Context, store latchkey.Store, keys *secret.Keyring) error {
	switch _, err := store.Meta(ctx, sealFormat); latchkey.ErrorCode(err) {
	case "":
		return nil // already upgraded
	case latchkey.ENOTFOUND:
	default:
		return err
	}
	err := store.Reseal(ctx, []string{masterKeyCheck}, func(kind, id string, sealed []byte) ([]byte, error) {
		rec := secret.Record{Kind: kind, ID: id}
		if _, err := keys.Open(sealed, rec); err == nil {
			return sealed, nil
		}
		plain, err := keys.OpenLegacy(sealed, id)
		if err != nil {
			return nil, fmt.Errorf("upgrade sealed %s %s: %w", kind, id, err)
		}
		return keys.Seal(plain, rec), nil
	})
	if err != nil {
		return err
	}
	_, err = store.InitMeta(ctx, sealFormat, []byte("2"))
	return err
}
