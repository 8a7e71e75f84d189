package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
)

// configCommand is "latchkey config print": the settings a command would
// run with, each with where it came from (a flag, an environment variable,
// the config file, or the default), passwords redacted. It takes the
// flags serve takes, so that "latchkey config print --db …" shows what
// "latchkey serve --db …" would use.
func configCommand(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "print" {
		return fmt.Errorf(`unknown config command; use "latchkey config print [flags]"`)
	}
	cfg, err := parseConfig("config print", args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SETTING\tVALUE\tFROM")
	for _, s := range cfg.settings {
		value := s.Value
		if value == "" {
			value = "(none)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", s.Name, value, s.Source)
	}
	// The master key is environment only (or a file the settings name):
	// whether it is set, never what it is.
	key := "(none: --master-key-file, or master.key beside the SQLite database)"
	if cfg.masterKeyText != "" {
		key = "(set, not shown)"
	}
	from := "environment LATCHKEY_MASTER_KEY"
	if cfg.masterKeyText == "" {
		from = "default"
	}
	fmt.Fprintf(w, "%s\t%s\t%s\n", "master-key", key, from)
	return w.Flush()
}
