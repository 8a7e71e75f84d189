package postgres

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/pgtest"
)

// TestUsageSummaryInUTCWhateverTheSessionZone: buckets start at UTC's
// minutes, hours and days even when the connection's TimeZone is another
// (date_trunc on a timestamptz truncates in the session's zone unless told
// otherwise). Chatham is 13:45 ahead of UTC, so neither its hours nor its
// days line up with UTC's. The contract suite cannot see this: the test
// server runs in UTC.
func TestUsageSummaryInUTCWhateverTheSessionZone(t *testing.T) {
	ctx := t.Context()
	s := openAt(t, pgtest.DSN(t)+"&timezone="+url.QueryEscape("Pacific/Chatham"))
	var zone string
	if err := s.pool.QueryRow(ctx, `SHOW TimeZone`).Scan(&zone); err != nil || zone != "Pacific/Chatham" {
		t.Fatalf("session TimeZone = %q, %v; want Pacific/Chatham", zone, err)
	}
	at := time.Date(2025, 1, 31, 23, 59, 0, 0, time.UTC)
	acc := &latchkey.Account{ID: fmt.Sprintf("%024x", 1), Name: "A", CreatedAt: at}
	k := newTestKey(latchkey.KeyOwner{AccountID: acc.ID}, 1)
	if err := s.CreateAccountWithKey(ctx, acc, k); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUsage(ctx, []latchkey.UsageCount{
		{KeyID: k.ID, Minute: at, Code: latchkey.CodeValid, Count: 1},
		{KeyID: k.ID, Minute: at.Add(time.Minute), Code: latchkey.CodeValid, Count: 2},
	}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bucket latchkey.UsageBucket
		want   []time.Time
	}{
		{latchkey.BucketMinute, []time.Time{at, at.Add(time.Minute)}},
		{latchkey.BucketHour, []time.Time{at.Truncate(time.Hour), at.Add(time.Minute)}},
		{latchkey.BucketDay, []time.Time{at.Truncate(24 * time.Hour), at.Add(time.Minute)}},
	} {
		got, err := s.UsageSummary(ctx, latchkey.UsageQuery{AccountID: acc.ID, Bucket: tc.bucket,
			From: at.Add(-48 * time.Hour), To: at.Add(48 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s buckets = %v, want starts %v", tc.bucket, got, tc.want)
		}
		for i, c := range got {
			if !c.Minute.Equal(tc.want[i]) || c.Minute.Location() != time.UTC || c.Count != int64(i+1) {
				t.Errorf("%s bucket %d = %s (%d), want %s (%d)", tc.bucket, i, c.Minute, c.Count, tc.want[i], i+1)
			}
		}
	}
}
