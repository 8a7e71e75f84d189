package sdk_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/latchkey/latchkey/sdk"
)

// latchkeyURL and adminKey are set by this package's TestMain, which starts
// a real Latchkey server: in your code, your server's URL and a key from
// your secret store.

func ExampleClient_CreateKey() {
	ctx := context.Background()
	client := sdk.New(latchkeyURL, adminKey)

	key, err := client.CreateKey(ctx, sdk.CreateKeyRequest{
		Name:        "Customer 42",
		Prefix:      "acme",
		Permissions: []string{"orders.read", "orders.items.*"},
		RateLimit:   &sdk.RateLimit{Limit: 100, Period: time.Minute},
		Metadata:    map[string]any{"crm": "c_42"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key.Name, key.Permissions, key.RateLimit.Limit, key.RateLimit.Period, key.Metadata["crm"])

	// The secret is in this answer only: hand it to your customer now.
	fmt.Println(strings.HasPrefix(key.Secret.Reveal(), "acme_sk_live_"))
	// Printed or logged, it is redacted.
	fmt.Println(key.Secret)
	// Output:
	// Customer 42 [orders.read orders.items.*] 100 1m0s c_42
	// true
	// [REDACTED]
}

func ExampleClient_Verify() {
	ctx := context.Background()
	// In production, this client's key needs only the VerifyKey permission.
	client := sdk.New(latchkeyURL, adminKey)

	key, err := client.CreateKey(ctx, sdk.CreateKeyRequest{
		Name:        "Reporting",
		Permissions: []string{"reports.read"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// What your API received from its client, and what the request needs.
	for _, check := range []sdk.VerifyRequest{
		{Key: key.Secret.Reveal(), Permissions: []string{"reports.read"}},
		{Key: key.Secret.Reveal(), Permissions: []string{"reports.write"}},
		{Key: "sk_live_not-a-key"},
	} {
		res, err := client.Verify(ctx, check)
		if err != nil {
			log.Fatal(err) // no verdict: refuse the request
		}
		fmt.Println(res.Valid, res.Code, res.Name)
	}
	// Output:
	// true VALID Reporting
	// false INSUFFICIENT_PERMISSIONS Reporting
	// false NOT_FOUND
}

func ExampleMiddleware() {
	ctx := context.Background()
	admin := sdk.New(latchkeyURL, adminKey)

	// The middleware's own key may verify keys, and do nothing else.
	vk, err := admin.CreateKey(ctx, sdk.CreateKeyRequest{Name: "orders API", Permissions: []string{"VerifyKey"}})
	if err != nil {
		log.Fatal(err)
	}
	verifier := sdk.New(latchkeyURL, vk.Secret.Reveal())

	protect := sdk.Middleware(verifier, sdk.MiddlewareOptions{
		Permissions: []string{"orders.read"},
	})
	api := httptest.NewServer(protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := sdk.FromContext(r.Context())
		fmt.Fprintf(w, "orders for %s", v.Name)
	})))
	defer api.Close()

	// A customer's key, and a request with it and one without.
	customer, err := admin.CreateKey(ctx, sdk.CreateKeyRequest{Name: "Customer 7", Permissions: []string{"orders.read"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, secret := range []string{customer.Secret.Reveal(), ""} {
		req, _ := http.NewRequest("GET", api.URL+"/orders", nil)
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 orders for Customer 7
	// 401 {"error":{"code":"unauthorized","message":"An API key is required."}}
}
