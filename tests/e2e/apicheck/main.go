// Command apicheck validates the API exchanges the end-to-end suite
// recorded against the OpenAPI document the server served, and fails, with
// a list of every mismatch, if any response differs from the document, or
// if it validated no exchange at all.
//
// The suite's harness (tests/e2e/lib/server.mjs) puts a recording proxy in
// front of every server it starts (lib/recorder.mjs) and, with
// LATCHKEY_E2E_RECORD set to a directory, writes each exchange there as a
// line of a *.jsonl file, and the document the binary serves at
// /openapi.json as openapi.json. npm test (lib/run.mjs) runs the tests, then
// this command:
//
//	go run ./tests/e2e/apicheck -dir <directory>
//
// Each response is checked by package httpapi/openapi/check: its status is
// one its operation documents, the headers the document declares are there
// and well-formed, and its body has the documented media type and matches
// the JSON Schema. Answers to paths and methods that no operation serves
// (the surfaces' 404 and 405) are counted as skipped.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/latchkey/latchkey/httpapi/openapi/check"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// maxLine bounds one recorded exchange (a response body of a few MB).
const maxLine = 64 << 20

// examples is how many exchanges each mismatch lists.
const examples = 3

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("apicheck", flag.ContinueOnError)
	flags.SetOutput(stderr)
	dir := flags.String("dir", "", "the directory of recorded exchanges (*.jsonl)")
	spec := flags.String("spec", "", "the OpenAPI document (default: openapi.json in -dir, as the server served it)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || flags.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: apicheck -dir <directory> [-spec <openapi.json>]")
		return 2
	}
	if *spec == "" {
		*spec = filepath.Join(*dir, "openapi.json")
	}
	doc, err := os.ReadFile(*spec)
	if err != nil {
		fmt.Fprintf(stderr, "apicheck: no document to check against: %v (the harness saves the served /openapi.json there)\n", err)
		return 1
	}
	c, err := check.New(doc)
	if err != nil {
		fmt.Fprintf(stderr, "apicheck: %s: %v\n", *spec, err)
		return 1
	}
	files, err := filepath.Glob(filepath.Join(*dir, "*.jsonl"))
	if err != nil {
		fmt.Fprintln(stderr, "apicheck:", err)
		return 1
	}
	sort.Strings(files)

	var (
		total, checked int
		skipped        = map[string]int{}
		operations     = map[string]int{}
		mismatches     = map[string]*mismatch{}
		order          []string
	)
	for _, file := range files {
		err := eachExchange(file, func(line int, ex check.Exchange) {
			total++
			r := c.Check(ex)
			where := fmt.Sprintf("%s: %s %s → %d", ex.Source, ex.Method, ex.Target, ex.Status)
			if r.Skipped != "" && len(r.Problems) == 0 {
				skipped[r.Skipped]++
				return
			}
			if r.Operation != "" {
				operations[r.Operation]++
			}
			if len(r.Problems) == 0 {
				checked++
				return
			}
			op := r.Operation
			if op == "" {
				op = ex.Method + " " + strings.SplitN(ex.Target, "?", 2)[0]
			}
			for _, p := range r.Problems {
				key := fmt.Sprintf("%s → %d: %s", op, ex.Status, p)
				m := mismatches[key]
				if m == nil {
					m = &mismatch{key: key}
					mismatches[key] = m
					order = append(order, key)
				}
				m.count++
				if len(m.examples) < examples {
					m.examples = append(m.examples, fmt.Sprintf("%s (%s:%d)", where, filepath.Base(file), line))
				}
			}
		})
		if err != nil {
			fmt.Fprintf(stderr, "apicheck: %s: %v\n", file, err)
			return 1
		}
	}

	fmt.Fprintf(stdout, "apicheck: %d exchanges in %d files; %d responses match the document (%d operations); %d with mismatches; %d skipped\n",
		total, len(files), checked, len(operations), total-checked-sum(skipped), sum(skipped))
	for _, reason := range sortedKeys(skipped) {
		fmt.Fprintf(stdout, "  skipped %4d: %s\n", skipped[reason], reason)
	}
	if untested := untestedOperations(doc, operations); len(untested) > 0 {
		fmt.Fprintf(stdout, "  no exchange reached %d documented operations: %s\n", len(untested), strings.Join(untested, ", "))
	}
	failed := false
	if len(mismatches) > 0 {
		failed = true
		fmt.Fprintf(stderr, "\napicheck: %d kinds of responses do not match the document (%s):\n", len(mismatches), *spec)
		for _, key := range order {
			m := mismatches[key]
			fmt.Fprintf(stderr, "\n  %s\n    %d responses, e.g.:\n", m.key, m.count)
			for _, e := range m.examples {
				fmt.Fprintf(stderr, "      %s\n", e)
			}
		}
	}
	if checked == 0 && len(mismatches) == 0 {
		failed = true
		fmt.Fprintf(stderr, "apicheck: no exchange was validated (is LATCHKEY_E2E_RECORD set, and do the tests go through lib/server.mjs?)\n")
	}
	if failed {
		return 1
	}
	return 0
}

type mismatch struct {
	key      string
	count    int
	examples []string
}

// eachExchange calls f with every exchange of a JSON-lines file.
func eachExchange(file string, f func(line int, ex check.Exchange)) error {
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var ex check.Exchange
		if err := json.Unmarshal(sc.Bytes(), &ex); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		f(n, ex)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, fs.ErrClosed) {
		return err
	}
	return nil
}

// untestedOperations lists the documented operations no exchange reached.
func untestedOperations(doc []byte, reached map[string]int) []string {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return nil
	}
	var out []string
	for path, item := range d.Paths {
		for method := range item {
			switch method {
			case "get", "head", "post", "put", "patch", "delete", "options", "trace":
				if op := strings.ToUpper(method) + " " + path; reached[op] == 0 {
					out = append(out, op)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	return keys
}
