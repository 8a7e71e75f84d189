package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// stmts are the statements of the hot paths, each prepared once per pool
// when the store opens. database/sql otherwise has the driver prepare a
// statement anew on every call, and SQLite's prepare (parsing, and
// planning against the schema) was about a quarter of the CPU of an
// import. A *sql.Stmt prepares itself lazily on each connection of its
// pool that runs it, and keeps that. The write pool's run inside
// transactions, through stmtIn.
//
// Only statements whose text never varies belong here; a statement whose
// text is built per call is prepared per call, as before.
type stmts struct {
	// Write pool: creating keys (CreateKey, CreateKeys, imports), and the
	// audit event written with every change.
	accountExists     *sql.Stmt
	appExists         *sql.Stmt
	integrationExists *sql.Stmt
	insertKey         *sql.Stmt
	insertSecret      *sql.Stmt
	insertImported    *sql.Stmt
	insertAudit       *sql.Stmt
	// Write pool: usage flushes (AddUsage).
	addUsageCounts   *sql.Stmt
	addUsageLastUsed *sql.Stmt

	// Read pool: finding one key, the verifier's path for a key it has not
	// cached (KeyBySecretHash, KeyByImportedDigest, Key).
	keyByID             *sql.Stmt
	keyBySecretHash     *sql.Stmt
	keyByImportedDigest *sql.Stmt
	secretsOfKey        *sql.Stmt
	importedOfKey       *sql.Stmt
}

// prepareStmts prepares s.stmts. It runs after the migrations: SQLite
// prepares a statement against the schema, so the tables must exist.
func (s *Store) prepareStmts(ctx context.Context) error {
	for _, p := range []struct {
		dst   **sql.Stmt
		db    *sql.DB
		query string
	}{
		{&s.stmts.accountExists, s.write, accountExistsSQL},
		{&s.stmts.appExists, s.write, appExistsSQL},
		{&s.stmts.integrationExists, s.write, integrationExistsSQL},
		{&s.stmts.insertKey, s.write, insertKeySQL},
		{&s.stmts.insertSecret, s.write, insertSecretSQL},
		{&s.stmts.insertImported, s.write, insertImportedSQL},
		{&s.stmts.insertAudit, s.write, insertAuditSQL},
		{&s.stmts.addUsageCounts, s.write, addUsageCountsSQL},
		{&s.stmts.addUsageLastUsed, s.write, addUsageLastUsedSQL},

		{&s.stmts.keyByID, s.read, keysWhereSQL(keyByIDCond)},
		{&s.stmts.keyBySecretHash, s.read, keysWhereSQL(keyBySecretHashCond)},
		{&s.stmts.keyByImportedDigest, s.read, keysWhereSQL(keyByImportedDigestCond)},
		{&s.stmts.secretsOfKey, s.read, secretsOfSQL(1)},
		{&s.stmts.importedOfKey, s.read, importedOfSQL(1)},
	} {
		st, err := p.db.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %q: %w", p.query, err)
		}
		*p.dst = st
	}
	return nil
}

// closeStmts closes the statements prepared so far.
func (s *Store) closeStmts() error {
	var errs []error
	for _, st := range []*sql.Stmt{
		s.stmts.accountExists, s.stmts.appExists, s.stmts.integrationExists,
		s.stmts.insertKey, s.stmts.insertSecret, s.stmts.insertImported, s.stmts.insertAudit,
		s.stmts.addUsageCounts, s.stmts.addUsageLastUsed,
		s.stmts.keyByID, s.stmts.keyBySecretHash, s.stmts.keyByImportedDigest,
		s.stmts.secretsOfKey, s.stmts.importedOfKey,
	} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// stmtIn returns st, a write pool statement, for use in tx; close it after
// use. Closing it does not close st, but drops what database/sql keeps
// for it until tx ends: one per use, which an import of many keys in one
// transaction would otherwise pile up.
func stmtIn(ctx context.Context, tx *sql.Tx, st *sql.Stmt) *sql.Stmt {
	return tx.StmtContext(ctx, st)
}
