package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/sdk"
)

// appCommands are latchkey apps ….
func appCommands() []command {
	id := func(path, summary string, setup func(*flag.FlagSet) runFunc) command {
		return command{path: path, args: "APP_ID", minArgs: 1, maxArgs: 1, remote: true, summary: summary, setup: setup}
	}
	return []command{
		{path: "apps list", remote: true, summary: "list the account's apps, in id order", setup: appsListSetup},
		id("apps get", "show an app", appsGetSetup),
		{path: "apps create", remote: true, summary: "make an app (account keys only)", setup: appsCreateSetup},
		id("apps update", "change an app's name or metadata", appsUpdateSetup),
		id("apps delete", "delete an app with its integrations and all their keys, which stop working at once", appsDeleteSetup),
	}
}

var appHeader = []string{"ID", "NAME", "METADATA", "CREATED"}

func appRow(a *sdk.App) []string {
	return []string{a.ID, a.Name, metadataString(a.Metadata), timeString(a.CreatedAt)}
}

// printApp shows one app.
func (c *cli) printApp(a *sdk.App) error {
	if c.json {
		return c.printJSON(a)
	}
	return c.printFields([][2]string{
		{"ID", a.ID}, {"NAME", a.Name}, {"METADATA", metadataString(a.Metadata)},
		{"CREATED", timeString(a.CreatedAt)}, {"UPDATED", timeString(a.UpdatedAt)},
	})
}

func appsListSetup(fs *flag.FlagSet) runFunc {
	var l listFlags
	l.add(fs, 0)
	return func(ctx context.Context, c *cli, _ []string) error {
		client, err := c.client()
		if err != nil {
			return err
		}
		apps, next, err := collect(ctx, l,
			func(ctx context.Context, cursor string, size int) (*sdk.Page[sdk.App], error) {
				return client.ListApps(ctx, sdk.ListAppsOptions{Cursor: cursor, Limit: size})
			})
		if err != nil {
			return err
		}
		return printList(c, apps, next, appHeader, appRow)
	}
}

func appsGetSetup(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, args []string) error {
		client, err := c.client()
		if err != nil {
			return err
		}
		app, err := client.GetApp(ctx, args[0])
		if err != nil {
			return err
		}
		return c.printApp(app)
	}
}

func appsCreateSetup(fs *flag.FlagSet) runFunc {
	var (
		name string
		md   metadataFlags
	)
	fs.StringVar(&name, "name", "", "the app's name, 1 to 100 characters (required)")
	md.add(fs, "app")
	return func(ctx context.Context, c *cli, _ []string) error {
		if name == "" {
			return usageError("--name is required")
		}
		metadata, _, err := md.value()
		if err != nil {
			return err
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		app, err := client.CreateApp(ctx, sdk.CreateAppRequest{Name: name, Metadata: metadata})
		if err != nil {
			return err
		}
		return c.printApp(app)
	}
}

func appsUpdateSetup(fs *flag.FlagSet) runFunc {
	var (
		name  string
		md    metadataFlags
		clear = clearFlag{allowed: []string{"metadata"}}
	)
	fs.StringVar(&name, "name", "", "the app's new name")
	md.add(fs, "app")
	fs.Var(&clear, "clear", "remove a `PART`: metadata")
	return func(ctx context.Context, c *cli, args []string) error {
		var req sdk.UpdateAppRequest
		if given(fs)["name"] {
			req.Name = &name
		}
		metadata, set, err := md.value()
		if err != nil {
			return err
		}
		switch {
		case set && clear.has("metadata"):
			return usageError("give --metadata or --clear metadata, not both")
		case set:
			req.Metadata = metadata
		case clear.has("metadata"):
			req.ClearMetadata = true
		case req.Name == nil:
			return usageError("nothing to change: give --name, --metadata, --metadata-json or --clear metadata")
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		app, err := client.UpdateApp(ctx, args[0], req)
		if err != nil {
			return err
		}
		return c.printApp(app)
	}
}

func appsDeleteSetup(fs *flag.FlagSet) runFunc {
	yes := fs.Bool("yes", false, "delete without asking")
	return func(ctx context.Context, c *cli, args []string) error {
		client, err := c.client()
		if err != nil {
			return err
		}
		if err := c.confirm(*yes, "app "+args[0]+" with its integrations and all their keys"); err != nil {
			return err
		}
		if err := client.DeleteApp(ctx, args[0]); err != nil {
			return err
		}
		return c.printDeleted("app", args[0])
	}
}

// integrationCommands are latchkey integrations …: each names its app with
// --app.
func integrationCommands() []command {
	id := func(path, summary string, setup func(*flag.FlagSet) runFunc) command {
		return command{path: path, args: "INTEGRATION_ID", minArgs: 1, maxArgs: 1, remote: true, summary: summary, setup: setup}
	}
	return []command{
		{path: "integrations list", remote: true, summary: "list an app's custom integrations, in id order", setup: integrationsListSetup},
		id("integrations get", "show an integration", integrationsGetSetup),
		{path: "integrations create", remote: true, summary: "make a custom integration in an app: a holder of keys of its own (account and app keys only)",
			setup: integrationsCreateSetup},
		id("integrations update", "rename an integration", integrationsUpdateSetup),
		id("integrations delete", "delete an integration with its keys, which stop working at once", integrationsDeleteSetup),
	}
}

// appFlag declares --app, which the integration commands require.
func appFlag(fs *flag.FlagSet) func() (string, error) {
	app := fs.String("app", "", "the integration's `APP_ID` (required)")
	return func() (string, error) {
		if *app == "" {
			return "", usageError("--app APP_ID is required: the integration's app")
		}
		return *app, nil
	}
}

func integrationName(in *sdk.Integration) string {
	if in.Name == nil {
		return ""
	}
	return *in.Name
}

func (c *cli) printIntegration(in *sdk.Integration) error {
	if c.json {
		return c.printJSON(in)
	}
	return c.printFields([][2]string{
		{"ID", in.ID}, {"APP", in.AppID}, {"TYPE", in.Type}, {"NAME", integrationName(in)},
		{"CREATED", timeString(in.CreatedAt)}, {"UPDATED", timeString(in.UpdatedAt)},
	})
}

func integrationsListSetup(fs *flag.FlagSet) runFunc {
	appID := appFlag(fs)
	var l listFlags
	l.add(fs, 0)
	return func(ctx context.Context, c *cli, _ []string) error {
		app, err := appID()
		if err != nil {
			return err
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		list, next, err := collect(ctx, l,
			func(ctx context.Context, cursor string, size int) (*sdk.Page[sdk.Integration], error) {
				return client.ListIntegrations(ctx, app, sdk.ListIntegrationsOptions{Cursor: cursor, Limit: size})
			})
		if err != nil {
			return err
		}
		return printList(c, list, next, []string{"ID", "NAME", "TYPE", "CREATED"}, func(in *sdk.Integration) []string {
			return []string{in.ID, integrationName(in), in.Type, timeString(in.CreatedAt)}
		})
	}
}

func integrationsGetSetup(fs *flag.FlagSet) runFunc {
	appID := appFlag(fs)
	return func(ctx context.Context, c *cli, args []string) error {
		app, err := appID()
		if err != nil {
			return err
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		in, err := client.GetIntegration(ctx, app, args[0])
		if err != nil {
			return err
		}
		return c.printIntegration(in)
	}
}

func integrationsCreateSetup(fs *flag.FlagSet) runFunc {
	appID := appFlag(fs)
	name := fs.String("name", "", "the integration's name, 1 to 100 characters (required)")
	return func(ctx context.Context, c *cli, _ []string) error {
		app, err := appID()
		if err != nil {
			return err
		}
		if *name == "" {
			return usageError("--name is required")
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		in, err := client.CreateIntegration(ctx, app, sdk.CreateIntegrationRequest{Name: *name})
		if err != nil {
			return err
		}
		return c.printIntegration(in)
	}
}

func integrationsUpdateSetup(fs *flag.FlagSet) runFunc {
	appID := appFlag(fs)
	name := fs.String("name", "", "the integration's new name (required)")
	return func(ctx context.Context, c *cli, args []string) error {
		app, err := appID()
		if err != nil {
			return err
		}
		if !given(fs)["name"] {
			return usageError("nothing to change: give --name")
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		in, err := client.UpdateIntegration(ctx, app, args[0], sdk.UpdateIntegrationRequest{Name: name})
		if err != nil {
			return err
		}
		return c.printIntegration(in)
	}
}

func integrationsDeleteSetup(fs *flag.FlagSet) runFunc {
	appID := appFlag(fs)
	yes := fs.Bool("yes", false, "delete without asking")
	return func(ctx context.Context, c *cli, args []string) error {
		app, err := appID()
		if err != nil {
			return err
		}
		client, err := c.client()
		if err != nil {
			return err
		}
		if err := c.confirm(*yes, "integration "+args[0]+" with its keys"); err != nil {
			return err
		}
		if err := client.DeleteIntegration(ctx, app, args[0]); err != nil {
			return err
		}
		return c.printDeleted("integration", args[0])
	}
}

// confirm asks before a deletion, on stderr: --yes, or y typed at the
// terminal. Without a terminal to ask on, a deletion needs --yes, so that
// a script never deletes by accident, nor hangs on a question.
func (c *cli) confirm(yes bool, what string) error {
	if yes {
		return nil
	}
	if _, ok := isTerminal(c.stdin); !ok {
		return usageError("to delete %s, add --yes (stdin is not a terminal to ask on)", what)
	}
	fmt.Fprintf(c.stderr, "Delete %s? [y/N] ", sanitize(what))
	line, _ := bufio.NewReader(c.stdin).ReadString('\n')
	if answer := strings.ToLower(strings.TrimSpace(line)); answer == "y" || answer == "yes" {
		return nil
	}
	return &exitError{status: statusFailure, code: "canceled", err: errors.New("nothing deleted")}
}

// printDeleted reports a deletion: {"id","deleted":true} with --json.
func (c *cli) printDeleted(kind, id string) error {
	if c.json {
		return c.printJSON(struct {
			ID      string `json:"id"`
			Deleted bool   `json:"deleted"`
		}{id, true})
	}
	_, err := fmt.Fprintf(c.stdout, "Deleted %s %s.\n", kind, sanitize(id))
	return err
}
