package main

// latchkey import FILE: keys from another system into a running server,
// through POST /v1/keys/import (so it works on a fleet, and within the
// rights of the key it runs with). The file is JSON lines or CSV with the
// member names of POST /v1/keys plus id, and secret or hash with
// hashAlgorithm. It is sent in batches; after each batch the number of
// records done is saved in a state file, so that an interrupted import
// resumes where it stopped when the same command is run again. The server
// skips keys it already has (by id, secret or hash), so a batch sent twice,
// or a whole file imported twice, makes nothing twice.

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/sdk"
)

func importCommand() command {
	return command{path: "import", args: "FILE", minArgs: 1, maxArgs: 1, remote: true, setup: importSetup,
		summary: "import keys from another system: JSON lines or CSV with the members of POST /v1/keys, id, and secret " +
			"or hash with hashAlgorithm; resumable, and skips keys already imported",
		values: map[string][]string{"format": {"jsonl", "csv"}}}
}

// importRecord is one record of the file, with the line it starts on.
type importRecord struct {
	line int
	key  sdk.ImportKey
	err  error // the record could not be read: it fails without being sent
}

// importItem is one key the import did not create, for the report.
type importItem struct {
	Line   int            `json:"line"`
	Status string         `json:"status"`
	ID     string         `json:"id,omitempty"`
	Reason string         `json:"reason,omitempty"`
	Error  *sdk.ErrorBody `json:"error,omitempty"`
}

// importSummary is what the import reports at the end (and --json prints).
type importSummary struct {
	Records int          `json:"records"`
	Created int          `json:"created"`
	Skipped int          `json:"skipped"`
	Failed  int          `json:"failed"`
	Items   []importItem `json:"items"`
}

// importState is the state file: how far an interrupted import got in a
// file that has not changed since.
type importState struct {
	File    string    `json:"file"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
	Done    int       `json:"done"`
	Summary importSummary
}

func importSetup(fs *flag.FlagSet) runFunc {
	var (
		format, statePath string
		batch             int
		restart           bool
	)
	fs.StringVar(&format, "format", "", "jsonl or csv; by default from the file's extension (.csv is CSV, anything else JSON lines)")
	fs.IntVar(&batch, "batch", 500, "keys per request, 1 to 1000")
	fs.StringVar(&statePath, "state", "", "where progress is saved, to resume an interrupted import (default FILE.import-state)")
	fs.BoolVar(&restart, "restart", false, "ignore saved progress and start from the first record (keys already imported are skipped)")
	return func(ctx context.Context, c *cli, args []string) error {
		path := args[0]
		if batch < 1 || batch > sdk.MaxImportBatch {
			return usageError("--batch %d: want 1 to %d", batch, sdk.MaxImportBatch)
		}
		if format == "" {
			format = "jsonl"
			if strings.EqualFold(filepath.Ext(path), ".csv") {
				format = "csv"
			}
		}
		if format != "jsonl" && format != "csv" {
			return usageError("--format %q: want jsonl or csv", format)
		}
		if statePath == "" {
			statePath = path + ".import-state"
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		info, err := os.Stat(path)
		if err != nil {
			return usageError("%v", err)
		}
		records, err := readImportFile(path, format)
		if err != nil {
			return usageError("%s: %v", path, err)
		}
		state := importState{File: path, Size: info.Size(), ModTime: info.ModTime().UTC()}
		if !restart {
			if saved, ok := loadImportState(statePath); ok {
				if saved.Size != state.Size || !saved.ModTime.Equal(state.ModTime) {
					return usageError("%s changed since the import saved in %s stopped; run with --restart to start over (keys already imported are skipped)", path, statePath)
				}
				state = saved
				c.warnf("resuming after record %d of %d (%s)", state.Done, len(records), statePath)
			}
		}
		state.Summary.Records = len(records)

		progress := newProgress(c, len(records), state.Done)
		for state.Done < len(records) {
			if err := ctx.Err(); err != nil {
				progress.done()
				return fmt.Errorf("interrupted after record %d of %d; run the same command to resume", state.Done, len(records))
			}
			end := min(state.Done+batch, len(records))
			if err := importBatch(ctx, client, records[state.Done:end], &state.Summary); err != nil {
				progress.done()
				return fmt.Errorf("stopped after record %d of %d (run the same command to resume): %w", state.Done, len(records), err)
			}
			state.Done = end
			if err := saveImportState(statePath, state.compact()); err != nil {
				return err
			}
			progress.show(state.Done, state.Summary)
		}
		progress.done()
		if err := os.Remove(statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := c.printImport(state.Summary); err != nil {
			return err
		}
		if state.Summary.Failed > 0 {
			return &exitError{status: statusFailure, code: "import_failures", reported: true,
				err: fmt.Errorf("%d keys failed", state.Summary.Failed)}
		}
		return nil
	}
}

// importBatch sends the records that could be read, and adds every record's
// outcome to sum.
func importBatch(ctx context.Context, client *sdk.Client, records []importRecord, sum *importSummary) error {
	var (
		keys  []sdk.ImportKey
		lines []int
	)
	for _, r := range records {
		if r.err != nil {
			sum.Failed++
			sum.Items = append(sum.Items, importItem{Line: r.line, Status: string(sdk.ImportFailed),
				Error: &sdk.ErrorBody{Code: "unreadable", Message: r.err.Error()}})
			continue
		}
		keys, lines = append(keys, r.key), append(lines, r.line)
	}
	if len(keys) == 0 {
		return nil
	}
	res, err := client.ImportKeys(ctx, keys)
	if err != nil {
		return err
	}
	if len(res.Results) != len(keys) {
		return fmt.Errorf("the server answered %d results for %d keys", len(res.Results), len(keys))
	}
	for i, r := range res.Results {
		switch r.Status {
		case sdk.ImportCreated:
			sum.Created++
			continue
		case sdk.ImportSkipped:
			sum.Skipped++
		default:
			sum.Failed++
		}
		sum.Items = append(sum.Items, importItem{Line: lines[i], Status: string(r.Status), ID: r.ID, Reason: r.Reason, Error: r.Error})
	}
	return nil
}

// printImport reports the outcome: counts, then each key skipped or failed
// and why, by line of the file.
func (c *cli) printImport(sum importSummary) error {
	if c.json {
		if sum.Items == nil {
			sum.Items = []importItem{}
		}
		return c.printJSON(sum)
	}
	fmt.Fprintf(c.stdout, "%d records: %d created, %d skipped, %d failed\n", sum.Records, sum.Created, sum.Skipped, sum.Failed)
	shown := sum.Items
	if len(shown) > maxImportRows {
		shown = shown[:maxImportRows]
	}
	rows := make([][]string, 0, len(shown))
	for _, it := range shown {
		why := it.Reason
		if it.Error != nil {
			why = it.Error.Message
			for _, f := range it.Error.Fields {
				why += " " + f.Field + ": " + f.Message
			}
		}
		rows = append(rows, []string{strconv.Itoa(it.Line), it.Status, it.ID, why})
	}
	if len(rows) == 0 {
		return nil
	}
	if err := c.printTable([]string{"LINE", "STATUS", "ID", "WHY"}, rows); err != nil {
		return err
	}
	if more := len(sum.Items) - len(shown); more > 0 {
		fmt.Fprintf(c.stdout, "… and %d more skipped or failed (--json lists them all)\n", more)
	}
	return nil
}

// maxImportRows bounds the table of keys not created: a rerun of a large
// import skips every key.
const maxImportRows = 20

// readImportFile reads every record of the file. A record that cannot be
// read fails on its own (its line is reported); a file that cannot be read
// at all, or a CSV header naming an unknown member, is an error.
func readImportFile(path, format string) ([]importRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if format == "csv" {
		return readImportCSV(f)
	}
	return readImportJSONL(f)
}

func readImportJSONL(r io.Reader) ([]importRecord, error) {
	var out []importRecord
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		rec := importRecord{line: line}
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields() // a misspelt member must not be dropped
		if err := dec.Decode(&rec.key); err != nil {
			rec.err = fmt.Errorf("not a key object: %v", err)
		} else if dec.More() {
			rec.err = errors.New("more than one JSON value on the line")
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// The CSV columns, named as the JSON members: strings as they are;
// permissions and allowedIps as values separated by spaces; owner as JSON
// or as --owner takes it (app:ID); metadata, rateLimit and acl as JSON;
// enabled as true or false. An empty cell leaves the member out.
var importColumns = []string{"id", "name", "secret", "hash", "hashAlgorithm", "owner", "type", "prefix",
	"permissions", "acl", "allowedIps", "expiresAt", "rateLimit", "metadata", "enabled"}

func readImportCSV(r io.Reader) ([]importRecord, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0 // every row as long as the header
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the CSV header: %v", err)
	}
	for _, name := range header {
		if !slices.Contains(importColumns, name) {
			return nil, fmt.Errorf("unknown column %q; the columns are %s", name, strings.Join(importColumns, ", "))
		}
	}
	var out []importRecord
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		line, _ := cr.FieldPos(0)
		rec := importRecord{line: line}
		if err != nil {
			rec.err = err
		} else {
			rec.err = csvKey(header, row, &rec.key)
		}
		out = append(out, rec)
	}
}

// csvKey fills k from one CSV row.
func csvKey(header, row []string, k *sdk.ImportKey) error {
	obj := map[string]any{}
	for i, name := range header {
		v := row[i]
		if v == "" {
			continue
		}
		switch name {
		case "permissions", "allowedIps":
			obj[name] = strings.Fields(v)
		case "enabled":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("enabled: want true or false, not %q", v)
			}
			obj[name] = b
		case "owner":
			if strings.HasPrefix(v, "{") {
				obj[name] = json.RawMessage(v)
				continue
			}
			o, err := parseOwner(v)
			if err != nil {
				return fmt.Errorf("owner: want JSON or account:ID, app:ID or integration:APP_ID/ID, not %q", v)
			}
			obj[name] = o
		case "acl", "rateLimit", "metadata":
			if !json.Valid([]byte(v)) {
				return fmt.Errorf("%s: not JSON: %q", name, v)
			}
			obj[name] = json.RawMessage(v)
		default:
			obj[name] = v
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(k); err != nil {
		return fmt.Errorf("not a key: %v", err)
	}
	return nil
}

// compact is the state as saved: its counts, and of the keys not created
// only those that failed. A rerun skips every key, and saving each skip
// after every batch would write the file over and over, growing: the keys
// skipped before an interruption are counted after it, not listed.
func (s importState) compact() importState {
	var failed []importItem
	for _, it := range s.Summary.Items {
		if it.Status == string(sdk.ImportFailed) {
			failed = append(failed, it)
		}
	}
	s.Summary.Items = failed
	return s
}

func loadImportState(path string) (importState, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return importState{}, false
	}
	var s importState
	if json.Unmarshal(b, &s) != nil {
		return importState{}, false
	}
	return s, true
}

// saveImportState writes the state atomically: a crash leaves the old
// state or the new, never half of one.
func saveImportState(path string, s importState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// progress draws a bar on stderr while the import runs, when stderr is a
// terminal and --json is off.
type progress struct {
	c      *cli
	on     bool
	total  int
	start  time.Time
	offset int
}

func newProgress(c *cli, total, done int) *progress {
	_, tty := isTerminal(asReader(c.stderr))
	return &progress{c: c, on: tty && !c.json, total: total, start: time.Now(), offset: done}
}

// asReader lets isTerminal look at a writer that is a file.
func asReader(w io.Writer) io.Reader {
	if f, ok := w.(*os.File); ok {
		return f
	}
	return nil
}

func (p *progress) show(done int, sum importSummary) {
	if !p.on || p.total == 0 {
		return
	}
	const width = 30
	filled := width * done / p.total
	rate := float64(done-p.offset) / max(time.Since(p.start).Seconds(), 0.001)
	fmt.Fprintf(p.c.stderr, "\r[%s%s] %d/%d  created %d  skipped %d  failed %d  %.0f keys/s ",
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, p.total, sum.Created, sum.Skipped, sum.Failed, rate)
}

func (p *progress) done() {
	if p.on {
		fmt.Fprintln(p.c.stderr)
	}
}
