package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/pgtest"
)

// TestUnavailable stops the real PostgreSQL under an open store: reads,
// writes and the change feed then fail with EUNAVAILABLE, not a bare
// driver error (a 500 on every surface); answers the server gives while it
// is up keep their meaning (ENOTFOUND, ECONFLICT); and once it is started
// again the same store works, without being reopened.
func TestUnavailable(t *testing.T) {
	ctx := t.Context()
	srv := pgtest.NewServer(t)
	s := openAt(t, srv.DSN())
	acct := &latchkey.Account{ID: fmt.Sprintf("%024x", 7001), Name: "Outage", CreatedAt: time.Now().UTC()}
	key := newTestKey(latchkey.KeyOwner{AccountID: acct.ID}, 7001)
	if err := s.CreateAccountWithKey(ctx, acct, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Key(ctx, "key_missing"); latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
		t.Fatalf("Key(missing) with the server up = %v, want not_found", err)
	}
	if err := s.CreateAccountWithKey(ctx, acct, key); latchkey.ErrorCode(err) != latchkey.ECONFLICT {
		t.Fatalf("CreateAccountWithKey(taken) = %v, want conflict", err)
	}
	feed, err := s.FollowKeyChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	if _, err := feed.Next(ctx); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	calls := map[string]func() error{
		"CountAccounts": func() error { _, err := s.CountAccounts(ctx); return err },
		"Key":           func() error { _, err := s.Key(ctx, "key_missing"); return err },
		"KeyBySecretHash": func() error {
			_, err := s.KeyBySecretHash(ctx, make([]byte, 32))
			return err
		},
		"CreateApp": func() error {
			return s.CreateApp(ctx, &latchkey.App{ID: "0123456789abcdef01234567", AccountID: acct.ID, DisplayName: "x",
				CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()})
		},
		"DeleteKey":  func() error { return s.DeleteKey(ctx, "key_missing") },
		"ChangeFeed": func() error { _, err := feed.Next(ctx); return err },
		"with deadline": func() error {
			c, cancel := context.WithTimeout(ctx, time.Millisecond)
			defer cancel()
			_, err := s.Meta(c, "x")
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if latchkey.ErrorCode(err) != latchkey.EUNAVAILABLE {
			t.Errorf("%s with the server stopped = %v, want unavailable", name, err)
		}
		var app *latchkey.Error
		if errors.As(err, &app) && app.Err == nil {
			t.Errorf("%s: the driver's error is not kept for the logs", name)
		}
	}

	srv.Start()
	// The pool reconnects on its own; a connection it held before the
	// stop is found dead and replaced.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.CountAccounts(ctx)
		if err == nil {
			break
		}
		if latchkey.ErrorCode(err) != latchkey.EUNAVAILABLE || time.Now().After(deadline) {
			t.Fatalf("CountAccounts after the server started again = %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.Key(ctx, acct.ID+"_missing"); latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
		t.Fatalf("Key(missing) after the restart = %v, want not_found", err)
	}
	if _, err := feed.Next(ctx); err != nil {
		t.Fatalf("change feed after the restart: %v", err)
	}
}
