package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/internal/datadir"
	"github.com/latchkey/latchkey/secret"
)

// nextMasterKeyFile is where rotate-master-key keeps the new key beside the
// default master.key until the rotation has finished and it replaces
// master.key.
const nextMasterKeyFile = "master.key.next"

// rotateAfterBatch, if set, is called after each batch of a rotation;
// tests stop or slow a rotation with it.
var rotateAfterBatch func(batches int) error

// rotateMasterKey re-seals every stored secret and re-derives the lookup
// index under a new master key while servers run (see core.Rotation for the
// steps and why no valid key stops working), and resumes one that was
// interrupted. It takes the current key from the settings serve takes, and
// the new one from LATCHKEY_NEW_MASTER_KEY or --new-master-key-file (a file
// that does not exist yet is created with a new key); with the default
// master.key, it generates the new key into master.key.next and, once the
// database is rotated, puts it in place of master.key. Every step is
// recorded in the store or on disk before the next begins, so that running
// the command again after it was stopped, however, carries on from where it
// was.
func rotateMasterKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		newKeyFile string
		batch      int
		grace      time.Duration
	)
	cfg, err := parseConfig("rotate-master-key", args, getenv, stderr, func(fs *flagSet) {
		fs.StringVar(&newKeyFile, "new-master-key-file", "", "file holding the new master key, base64 (env LATCHKEY_NEW_MASTER_KEY_FILE); "+
			"created with a freshly generated key if it does not exist. Or set LATCHKEY_NEW_MASTER_KEY. "+
			"Default with the default master.key: master.key.next beside it, generated")
		fs.IntVar(&batch, "batch", 500, "secrets re-keyed per transaction")
		fs.DurationVar(&grace, "grace", core.DefaultRotationGrace, "how long running servers get to learn the new key before secrets move "+
			"(at least "+core.KeyringStaleAfter.String()+")")
	})
	if err != nil {
		return err
	}
	if newKeyFile == "" {
		newKeyFile = getenv("LATCHKEY_NEW_MASTER_KEY_FILE")
	}
	newKeyText := getenv("LATCHKEY_NEW_MASTER_KEY")
	logger := cfg.newLogger(stderr)

	// The current key comes from the settings serve takes; the default
	// master.key is the one file the rotation replaces at the end.
	defaultFile := cfg.masterKeyText == "" && cfg.masterKeyFile == ""
	var currentPath, nextPath string
	if defaultFile {
		currentPath = filepath.Join(cfg.dataDir, "master.key")
		nextPath = filepath.Join(cfg.dataDir, nextMasterKeyFile)
	}
	switch {
	case newKeyText != "":
	case newKeyFile != "":
		nextPath = newKeyFile
	case nextPath == "":
		return errors.New("give the new master key: LATCHKEY_NEW_MASTER_KEY, or --new-master-key-file PATH " +
			"(created with a new key if it does not exist); only the default master.key has a default for it")
	}

	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if sealed, err := core.IsSealed(ctx, store); err != nil {
		return err
	} else if !sealed {
		return errors.New("the database was never sealed with a master key: start the server once first")
	}
	current, err := resolveMasterKey(ctx, cfg, store, logger)
	if err != nil {
		return err
	}

	// The new key as given, if it is: in the environment, or in a file
	// that exists already (made by an earlier run, or by the operator).
	var candidate []byte
	switch {
	case newKeyText != "":
		if candidate, err = secret.ParseMasterKey(newKeyText); err != nil {
			return fmt.Errorf("LATCHKEY_NEW_MASTER_KEY: %w", err)
		}
	default:
		b, err := os.ReadFile(nextPath)
		switch {
		case err == nil:
			if candidate, err = secret.ParseMasterKey(string(b)); err != nil {
				return fmt.Errorf("%s: %w", nextPath, err)
			}
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("read the new master key: %w", err)
		}
	}

	report := func(rep core.RotationReport, state string) error {
		return json.NewEncoder(stdout).Encode(map[string]any{"state": state, "keyId": rep.KeyID, "newKeyId": rep.NewKeyID,
			"rekeyed": rep.Rekeyed, "batches": rep.Batches, "resumed": rep.Resumed})
	}
	stored, err := core.StoredRotation(ctx, store, current)
	if err != nil {
		// The current key no longer opens the store: if it is because the
		// store was rotated to the new key, what is left is the files.
		if candidate != nil {
			newKeys, kerr := secret.NewKeyring(candidate)
			if kerr != nil {
				return kerr
			}
			if done, serr := core.SealedUnder(ctx, store, newKeys); serr == nil && done {
				if err := installMasterKey(currentPath, nextPath, candidate, newKeyText != ""); err != nil {
					return err
				}
				logger.Info("the database was already rotated to the new master key", "new_key_id", newKeys.ID())
				return report(core.RotationReport{AlreadyDone: true, KeyID: current.ID(), NewKeyID: newKeys.ID()}, "finished")
			}
		}
		return err
	}
	var newMaster []byte
	switch {
	case stored != nil:
		// A rotation in progress: the store says to which key.
		if candidate != nil && string(candidate) != string(stored) {
			return fmt.Errorf("%w; the new master key given is not that one", core.ErrOtherRotation)
		}
		newMaster = stored
		if candidate == nil && newKeyText == "" {
			// The run that started it lost the file (or the operator moved
			// it): the key must be on disk before the rotation finishes.
			if err := writeNewMasterKey(nextPath, stored); err != nil {
				return err
			}
		}
	case candidate != nil:
		if masterKeyID(candidate) == current.ID() {
			// A finished rotation whose leftover is the new key's file.
			if defaultFile && newKeyFile == "" && newKeyText == "" {
				if err := removeSynced(nextPath); err != nil {
					return err
				}
			}
			logger.Info("nothing to rotate: the new master key given is the current one", "key_id", current.ID())
			return report(core.RotationReport{AlreadyDone: true, KeyID: current.ID(), NewKeyID: current.ID()}, "finished")
		}
		newMaster = candidate
	default:
		text := secret.NewMasterKey()
		switch err := datadir.CreateExclusive(nextPath, []byte(text+"\n")); {
		case errors.Is(err, fs.ErrExist):
			return fmt.Errorf("%s appeared while this run was starting: is another rotation running? run again", nextPath)
		case err != nil:
			return fmt.Errorf("write the new master key: %w", err)
		}
		if newMaster, err = secret.ParseMasterKey(text); err != nil {
			return err
		}
		logger.Info("generated the new master key; back it up", "file", nextPath)
	}

	rotation := &core.Rotation{Store: store, Current: current, NewMaster: newMaster, Batch: batch, Grace: grace,
		Logger: logger, AfterBatch: rotateAfterBatch}
	rep, err := rotation.Run(ctx)
	if err != nil {
		return err
	}
	if err := installMasterKey(currentPath, nextPath, newMaster, newKeyText != ""); err != nil {
		return err
	}
	if currentPath == "" {
		logger.Info("the database is rotated: configure every server with the new master key before it next starts; "+
			"running servers already use it, and the old key is refused from now on", "new_key_id", rep.NewKeyID)
	}
	return report(rep, "finished")
}

// installMasterKey puts the new key in place of the default master.key
// (currentPath; "" when the key is configured otherwise) once the database
// is rotated, and then removes master.key.next, its copy until then. The
// replacement is atomic, so a crash leaves the old or the new key there;
// master.key.next goes only once master.key holds the new key, so the new
// key is on disk at every moment.
func installMasterKey(currentPath, nextPath string, master []byte, fromEnv bool) error {
	if currentPath == "" {
		return nil
	}
	text := encodeMasterKey(master)
	if err := datadir.Replace(currentPath, []byte(text+"\n")); err != nil {
		return fmt.Errorf("install the new master key: %w", err)
	}
	if fromEnv || filepath.Base(nextPath) != nextMasterKeyFile || filepath.Dir(nextPath) != filepath.Dir(currentPath) {
		return nil // not our copy
	}
	return removeSynced(nextPath)
}

// writeNewMasterKey writes the new key to path unless it exists.
func writeNewMasterKey(path string, master []byte) error {
	err := datadir.CreateExclusive(path, []byte(encodeMasterKey(master)+"\n"))
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write the new master key: %w", err)
	}
	return nil
}

// masterKeyID is the one-way id of a master key (secret.Keyring.ID).
func masterKeyID(master []byte) string {
	k, err := secret.NewKeyring(master)
	if err != nil {
		return ""
	}
	return k.ID()
}

func encodeMasterKey(master []byte) string { return base64.StdEncoding.EncodeToString(master) }

func removeSynced(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
