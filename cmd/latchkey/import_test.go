package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// importOutcome is latchkey import --json's output.
type importOutcome struct {
	Records, Created, Skipped, Failed int
	Items                             []struct {
		Line   int
		Status string
		ID     string
		Reason string
		Error  *struct{ Code, Message string }
	}
}

// TestImport runs latchkey import against a real server: JSON lines and
// CSV in every secret form, in batches, then again (every key skipped and
// said why), then resumed from saved progress; and each imported key
// proves itself to latchkey verify with the secret its holder has.
func TestImport(t *testing.T) {
	h, admin, creds, _ := newCLIServer(t)
	logs := h.logs

	// 1,203 lines: plaintext and SHA-256 keys, one bcrypt key, a line with a
	// misspelt member and one that is not JSON.
	bc, err := bcrypt.GenerateFromPassword([]byte("bcrypt-secret-0001"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	secretOf := func(i int) string { return fmt.Sprintf("legacy_%05d_secret", i) }
	for i := range 1200 {
		if i%2 == 0 {
			lines = append(lines, fmt.Sprintf(`{"id":"jl-%d","name":"legacy %d","secret":"%s","permissions":["orders.read"]}`, i, i, secretOf(i)))
		} else {
			sum := sha256.Sum256([]byte(secretOf(i)))
			lines = append(lines, fmt.Sprintf(`{"id":"jl-%d","name":"legacy %d","hash":"%s","hashAlgorithm":"sha256-hex"}`, i, i, hex.EncodeToString(sum[:])))
		}
	}
	lines = append(lines,
		`{"id":"jl-bcrypt","name":"bcrypt","hash":"`+string(bc)+`","hashAlgorithm":"bcrypt"}`,
		`{"id":"jl-typo","name":"typo","secret":"typo-secret-0001","permisions":["x"]}`,
		`not json at all`)
	jsonl := filepath.Join(t.TempDir(), "keys.jsonl")
	if err := os.WriteFile(jsonl, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Failures make the exit status 1; the rest is imported.
	r := h.want(t, statusFailure, admin, "", "import", jsonl, "--batch", "500", "--json")
	out := decodeJSON[importOutcome](t, r)
	if out.Records != 1203 || out.Created != 1201 || out.Skipped != 0 || out.Failed != 2 {
		t.Fatalf("first import = %+v", out)
	}
	for i, want := range []int{1202, 1203} {
		if it := out.Items[i]; it.Line != want || it.Status != "failed" || it.Error == nil || it.Error.Message == "" {
			t.Errorf("item %d = %+v, want line %d failed with a message", i, it, want)
		}
	}
	if !strings.Contains(out.Items[0].Error.Message, "permisions") {
		t.Errorf("the misspelt member is not named: %s", out.Items[0].Error.Message)
	}
	if _, err := os.Stat(jsonl + ".import-state"); !os.IsNotExist(err) {
		t.Errorf("a finished import left its state file: %v", err)
	}

	// Each form proves itself to latchkey verify; bcrypt by id:secret.
	for _, cred := range []string{secretOf(10), secretOf(11), "jl-bcrypt:bcrypt-secret-0001"} {
		h.want(t, statusOK, admin, cred+"\n", "verify", "-")
	}
	h.want(t, statusVerdictNotOK, admin, "legacy_99999_secret\n", "verify", "-")

	// Again: everything skipped, and said why, for people too.
	r = h.want(t, statusFailure, admin, "", "import", jsonl)
	if !strings.HasPrefix(r.stdout, "1203 records: 0 created, 1201 skipped, 2 failed\n") ||
		!strings.Contains(r.stdout, "id_exists") || !strings.Contains(r.stdout, "and 1183 more") {
		t.Errorf("second import printed:\n%.2000s", r.stdout)
	}

	// CSV, with the columns named as the members.
	csvPath := filepath.Join(t.TempDir(), "keys.csv")
	csvText := "id,name,secret,permissions,owner,metadata,expiresAt,enabled\n" +
		"csv-1,first,csv-secret-00001,orders.read orders.write,,\"{\"\"plan\"\":\"\"pro\"\"}\",2099-01-01T00:00:00Z,true\n" +
		"csv-2,second,csv-secret-00002,,account:" + creds.AccountID + ",,,false\n" +
		"csv-3,third,csv-secret-00003,,,,,\n" +
		"csv-4,fourth,csv-secret-00004,,,,,\n"
	if err := os.WriteFile(csvPath, []byte(csvText), 0o600); err != nil {
		t.Fatal(err)
	}
	// An import stopped after its first batch resumes at the second: the
	// state file says so (as the import writes it after each batch).
	info, err := os.Stat(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	state := importState{File: csvPath, Size: info.Size(), ModTime: info.ModTime().UTC(), Done: 2,
		Summary: importSummary{Created: 2}}
	if err := saveImportState(csvPath+".import-state", state); err != nil {
		t.Fatal(err)
	}
	r = h.want(t, statusOK, admin, "", "import", csvPath, "--batch", "2")
	if !strings.HasPrefix(r.stdout, "4 records: 4 created, 0 skipped, 0 failed") || !strings.Contains(r.stderr, "resuming after record 2 of 4") {
		t.Errorf("resumed import printed:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	// Only the records after the saved point were sent.
	h.want(t, statusNotFound, admin, "", "keys", "get", "csv-1")
	k := decodeJSON[struct {
		Name    string
		Enabled bool
	}](t, h.want(t, statusOK, admin, "", "keys", "get", "csv-4", "--json"))
	if k.Name != "fourth" || !k.Enabled {
		t.Errorf("csv-4 = %+v", k)
	}
	// With --restart, from the start: the first two are made now, the
	// rest skipped; and what they hold came from their cells.
	r = h.want(t, statusOK, admin, "", "import", csvPath, "--restart", "--json")
	if out := decodeJSON[importOutcome](t, r); out.Created != 2 || out.Skipped != 2 {
		t.Errorf("restarted import = %+v", out)
	}
	got := decodeJSON[struct {
		Permissions []string
		Metadata    map[string]any
		ExpiresAt   string
		Enabled     bool
	}](t, h.want(t, statusOK, admin, "", "keys", "get", "csv-1", "--json"))
	if len(got.Permissions) != 2 || got.Metadata["plan"] != "pro" || got.ExpiresAt != "2099-01-01T00:00:00Z" || !got.Enabled {
		t.Errorf("csv-1 = %+v", got)
	}
	h.want(t, statusVerdictNotOK, admin, "csv-secret-00002\n", "verify", "-") // enabled false: DISABLED

	// A file changed since its saved progress is not resumed blindly.
	if err := saveImportState(csvPath+".import-state", state); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(csvPath, []byte(csvText+"csv-5,fifth,csv-secret-00005,,,,,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = h.want(t, statusUsage, admin, "", "import", csvPath)
	if !strings.Contains(r.stderr, "--restart") {
		t.Errorf("a changed file's message does not say how to go on: %s", r.stderr)
	}

	// A header naming no member is refused before anything is sent.
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("id,name,secrte\nx,y,z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = h.want(t, statusUsage, admin, "", "import", bad)
	if !strings.Contains(r.stderr, `unknown column "secrte"`) {
		t.Errorf("an unknown column: %s", r.stderr)
	}

	// No secret of the files ever showed in an output or the server's log.
	for _, o := range h.outputs {
		for _, s := range []string{secretOf(10), secretOf(11), "bcrypt-secret-0001", "csv-secret-00001"} {
			if strings.Contains(o.stdout+o.stderr, s) {
				t.Errorf("latchkey %s showed a secret", strings.Join(o.args, " "))
			}
		}
	}
	if strings.Contains(logs.String(), secretOf(10)) || strings.Contains(logs.String(), "csv-secret-00001") {
		t.Error("the server's log shows an imported secret")
	}
}
