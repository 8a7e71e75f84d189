// Package sdk is the Go client of Latchkey, the self-hosted API key service,
// and net/http middleware that protects your own API with Latchkey's keys.
//
// It wraps Latchkey's native API (/v1): apps and their custom integrations;
// keys with their whole policy (permissions, scoped ACL entries, allowed
// addresses, expiry, rate limit, metadata, an on/off switch); rolling a
// secret with a grace period; usage counts; the account's audit log; the
// calling key itself; and verification, which tells your API
// whether a key your client presented may be used, and for what. It uses
// the standard library only.
//
// # Install
//
//	go get github.com/latchkey/latchkey/sdk
//
// and import it as
//
//	import "github.com/latchkey/latchkey/sdk"
//
// It needs Go 1.26 or newer, as the rest of the module does. It imports
// nothing beyond the standard library, so none of the server's
// dependencies are compiled into your program.
//
// # Quick start: the client
//
// Make a Client with the server's URL and a key. Each method needs the
// permission of its operation on that key (CreateKey, ListKeys, …; Verify
// needs VerifyKey); an account key, such as the one a fresh server writes
// to initial-credentials.json, holds them all.
//
//	client := sdk.New("https://keys.example.com", os.Getenv("LATCHKEY_KEY"))
//
//	// A key for one of your customers: your prefix, your API's permissions.
//	key, err := client.CreateKey(ctx, sdk.CreateKeyRequest{
//		Name:        "Customer 42",
//		Prefix:      "acme",
//		Permissions: []string{"orders.read", "orders.items.*"},
//		RateLimit:   &sdk.RateLimit{Limit: 100, Period: time.Minute},
//	})
//	if err != nil {
//		return err
//	}
//	deliver(key.ID, key.Secret.Reveal()) // shown this once, never again
//
//	// Change it: set what you send, leave the rest.
//	key, err = client.UpdateKey(ctx, key.ID, sdk.UpdateKeyRequest{
//		Name:           new("Customer 42 (EU)"),
//		ClearRateLimit: true, // sends "rateLimit": null
//	})
//
//	// Every key, a page at a time behind the scenes.
//	for k, err := range client.AllKeys(ctx, sdk.ListKeysOptions{}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(k.ID, k.Name)
//	}
//
// Methods take a context first and return typed structs mirroring the API's
// JSON. Pointer fields of a request are sent when not nil; slices and maps
// when not nil, even empty. A verdict, valid or not, is a result, not an
// error (see Client.Verify).
//
// # Errors
//
// A refusal by the API is an *Error with the HTTP status, the API's code
// ("not_found", "invalid_request", …), its message, and for a 400 every
// field at fault:
//
//	_, err := client.GetKey(ctx, id)
//	switch {
//	case sdk.IsNotFound(err):
//		// unknown id, or another account's
//	case err != nil:
//		var apiErr *sdk.Error
//		if errors.As(err, &apiErr) {
//			log.Println(apiErr.Status, apiErr.Code, apiErr.Fields)
//		}
//	}
//
// Network failures are other errors, wrapping their cause. No error message
// ever holds the Client's key or any secret, and the package never logs
// except through Middleware's OnError (see below). A Key's Secret is a
// Secret, which prints as "[REDACTED]" through fmt and log/slog; call
// Reveal for the plaintext. Response bodies are read up to
// MaxResponseBytes, error bodies up to 64 KiB.
//
// # Quick start: the middleware
//
// Middleware authenticates the requests to your API through Latchkey. Give
// it a Client whose key holds just the VerifyKey permission:
//
//	verifier := sdk.New("https://keys.example.com", os.Getenv("LATCHKEY_VERIFY_KEY"))
//	protect := sdk.Middleware(verifier, sdk.MiddlewareOptions{
//		Apps:        []string{shopAppID},     // only keys made for this API
//		Permissions: []string{"orders.read"}, // or PermissionsFunc, per route
//	})
//	http.Handle("/orders", protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		v, _ := sdk.FromContext(r.Context())
//		fmt.Fprintf(w, "hello %s (%s)\n", v.Name, v.KeyID)
//	})))
//
// Clients send their key as Latchkey accepts it: "Authorization: Bearer
// <secret>", HTTP Basic with the key id and secret, X-API-Key or
// REB-APIKEY. The middleware answers 401 (with WWW-Authenticate) for no
// key, an unknown, expired or disabled one; 403 for a missing permission
// or a disallowed address; 429 (with Retry-After) over the key's rate
// limit; and 503 when Latchkey cannot be reached. It fails closed: while
// Latchkey is down, no request gets through.
//
// Behind a reverse proxy, r.RemoteAddr is the proxy's address, so keys
// restricted to allowed addresses would be checked against it: set
// MiddlewareOptions.ClientIP to read the address your proxy passes on.
//
// The middleware can keep VALID verdicts for up to a minute
// (MiddlewareOptions.Cache). Off by default: with it, a revoked key keeps
// working on this process for up to the TTL, and cached requests do not
// count against the key's rate limit or usage. See CacheOptions.
package sdk
