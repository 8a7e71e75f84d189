package native_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBadInput sends every route malformed, mistyped and out-of-bounds
// input: each gets its documented 4xx in this surface's format, never a
// 500, and the store is left exactly as it was.
func TestBadInput(t *testing.T) {
	s := newStack(t)
	appID := s.createApp(t, "A")
	k := s.createKey(t, s.admin, `{"name":"existing","permissions":["*"]}`)
	keyPath := "/v1/keys/" + k.ID

	many := func(n int, item string) string { return strings.TrimSuffix(strings.Repeat(item+",", n), ",") }
	named := func(members string) string { return `{"name":"n",` + members + `}` }
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)

	type bodyCase struct {
		name, body string
		status     int
		fields     []string
		createOnly bool // valid on PATCH
	}
	keyBodies := []bodyCase{
		{name: "malformed JSON", body: `{"name":`, status: 400},
		{name: "trailing garbage", body: `{"name":"a"} x`, status: 400},
		{name: "array body", body: `[{"name":"a"}]`, status: 400},
		{name: "null body", body: `null`, status: 400},
		{name: "body over 100 kB", body: `{"name":"` + strings.Repeat("x", 100_001) + `"}`, status: 413},

		{name: "empty object", body: `{}`, status: 400, fields: []string{"name"}, createOnly: true},
		{name: "name number", body: `{"name":42}`, status: 400, fields: []string{"name"}},
		{name: "name null", body: `{"name":null}`, status: 400, fields: []string{"name"}},
		{name: "name empty", body: `{"name":""}`, status: 400, fields: []string{"name"}},
		{name: "name blank", body: `{"name":"  \t"}`, status: 400, fields: []string{"name"}},
		{name: "name 256 characters", body: `{"name":"` + strings.Repeat("é", 256) + `"}`, status: 400, fields: []string{"name"}},
		{name: "name with a newline", body: `{"name":"a\nb"}`, status: 400, fields: []string{"name"}},
		{name: "name with a C1 control", body: `{"name":"a\u0085b"}`, status: 400, fields: []string{"name"}},
		{name: "unknown member", body: named(`"colour":"blue"`), status: 400, fields: []string{"colour"}},
		{name: "a secret", body: named(`"secret":"sk_live_x"`), status: 400, fields: []string{"secret"}},

		{name: "type other", body: named(`"type":"other"`), status: 400, fields: []string{"type"}},
		{name: "type null", body: named(`"type":null`), status: 400, fields: []string{"type"}},
		{name: "prefix upper case", body: named(`"prefix":"ACME"`), status: 400, fields: []string{"prefix"}},
		{name: "prefix 17 characters", body: named(`"prefix":"` + strings.Repeat("a", 17) + `"`), status: 400, fields: []string{"prefix"}},
		{name: "prefix with a dash", body: named(`"prefix":"a-b"`), status: 400, fields: []string{"prefix"}},
		{name: "prefix number", body: named(`"prefix":1`), status: 400, fields: []string{"prefix"}},

		{name: "permissions a string", body: named(`"permissions":"*"`), status: 400, fields: []string{"permissions"}},
		{name: "permissions null", body: named(`"permissions":null`), status: 400, fields: []string{"permissions"}},
		{name: "permissions not strings", body: named(`"permissions":[1]`), status: 400, fields: []string{"permissions"}},
		{name: "101 permissions", body: named(`"permissions":[` + many(101, `"p"`) + `]`), status: 400, fields: []string{"permissions"}},
		{name: "permission with a space", body: named(`"permissions":["orders read"]`), status: 400, fields: []string{"permissions.0"}},
		{name: "permission with a bare star", body: named(`"permissions":["ok","orders*"]`), status: 400, fields: []string{"permissions.1"}},
		{name: "permission empty", body: named(`"permissions":[""]`), status: 400, fields: []string{"permissions.0"}},
		{name: "permission only a pattern", body: named(`"permissions":[".*"]`), status: 400, fields: []string{"permissions.0"}},
		{name: "permission 101 characters", body: named(`"permissions":["` + strings.Repeat("p", 101) + `"]`), status: 400, fields: []string{"permissions.0"}},
		{name: "acl an object", body: named(`"acl":{}`), status: 400, fields: []string{"acl"}},
		{name: "acl null", body: named(`"acl":null`), status: 400, fields: []string{"acl"}},
		{name: "acl entry empty", body: named(`"acl":[{}]`), status: 400, fields: []string{"acl.0.scope", "acl.0.permissions"}},
		{name: "acl entry not an object", body: named(`"acl":["*"]`), status: 400, fields: []string{"acl.0"}},
		{name: "acl entry unscoped", body: named(`"acl":[{"scope":{},"permissions":["a"]}]`), status: 400, fields: []string{"acl.0.scope"}},
		{name: "acl entry without permissions", body: named(`"acl":[{"scope":{"planId":["p"]},"permissions":[]}]`), status: 400, fields: []string{"acl.0.permissions"}},
		{name: "acl entry unknown member", body: named(`"acl":[{"scope":{"planId":["p"]},"permissions":["a"],"x":1}]`), status: 400, fields: []string{"acl.0.x"}},
		{name: "acl scope unknown member", body: named(`"acl":[{"scope":{"color":["red"]},"permissions":["a"]}]`), status: 400, fields: []string{"acl.0.scope.color", "acl.0.scope"}},
		{name: "acl scope list not strings", body: named(`"acl":[{"scope":{"planId":[1]},"permissions":["a"]}]`), status: 400, fields: []string{"acl.0.scope.planId", "acl.0.scope"}},
		{name: "acl scope value empty", body: named(`"acl":[{"scope":{"planId":[""]},"permissions":["a"]}]`), status: 400, fields: []string{"acl.0.scope.planId.0"}},
		{name: "acl scope of 101 values", body: named(`"acl":[{"scope":{"productId":[` + many(101, `"p"`) + `]},"permissions":["a"]}]`), status: 400, fields: []string{"acl.0.scope.productId", "acl.0.scope"}},
		{name: "101 acl entries", body: named(`"acl":[` + many(101, `{"scope":{"planId":["p"]},"permissions":["a"]}`) + `]`), status: 400, fields: []string{"acl"}},
		{name: "over 100 permissions in all", body: named(`"permissions":[` + many(60, `"p"`) + `],"acl":[{"scope":{"planId":["p"]},"permissions":[` + many(41, `"a"`) + `]}]`),
			status: 400, fields: []string{"acl"}},

		{name: "allowedIps a string", body: named(`"allowedIps":"203.0.113.1"`), status: 400, fields: []string{"allowedIps"}},
		{name: "allowedIps empty", body: named(`"allowedIps":[]`), status: 400, fields: []string{"allowedIps"}},
		{name: "101 allowedIps", body: named(`"allowedIps":[` + many(101, `"203.0.113.1"`) + `]`), status: 400, fields: []string{"allowedIps"}},
		{name: "allowedIps not an address", body: named(`"allowedIps":["nope"]`), status: 400, fields: []string{"allowedIps.0"}},
		{name: "allowedIps with a port", body: named(`"allowedIps":["203.0.113.1:80"]`), status: 400, fields: []string{"allowedIps.0"}},
		{name: "allowedIps private", body: named(`"allowedIps":["203.0.113.1","10.0.0.1"]`), status: 400, fields: []string{"allowedIps.1"}},
		{name: "allowedIps loopback", body: named(`"allowedIps":["127.0.0.1"]`), status: 400, fields: []string{"allowedIps.0"}},
		{name: "allowedIps IPv6 loopback", body: named(`"allowedIps":["::1"]`), status: 400, fields: []string{"allowedIps.0"}},
		{name: "allowedIps ULA", body: named(`"allowedIps":["fd00::1"]`), status: 400, fields: []string{"allowedIps.0"}},
		{name: "allowedIps everything", body: named(`"allowedIps":["0.0.0.0/0"]`), status: 400, fields: []string{"allowedIps.0"}},

		{name: "expiresAt past", body: named(`"expiresAt":"` + past + `"`), status: 400, fields: []string{"expiresAt"}, createOnly: true},
		{name: "expiresAt words", body: named(`"expiresAt":"tomorrow"`), status: 400, fields: []string{"expiresAt"}},
		{name: "expiresAt a date only", body: named(`"expiresAt":"2030-01-01"`), status: 400, fields: []string{"expiresAt"}},
		{name: "expiresAt a number", body: named(`"expiresAt":1893456000`), status: 400, fields: []string{"expiresAt"}},

		{name: "rateLimit a string", body: named(`"rateLimit":"10/m"`), status: 400, fields: []string{"rateLimit"}},
		{name: "rateLimit empty", body: named(`"rateLimit":{}`), status: 400, fields: []string{"rateLimit.limit", "rateLimit.period"}},
		{name: "rateLimit limit 0", body: named(`"rateLimit":{"limit":0,"period":"1m"}`), status: 400, fields: []string{"rateLimit.limit"}},
		{name: "rateLimit limit too high", body: named(`"rateLimit":{"limit":1000000001,"period":"1m"}`), status: 400, fields: []string{"rateLimit.limit"}},
		{name: "rateLimit limit fractional", body: named(`"rateLimit":{"limit":1.5,"period":"1m"}`), status: 400, fields: []string{"rateLimit.limit"}},
		{name: "rateLimit limit a string", body: named(`"rateLimit":{"limit":"10","period":"1m"}`), status: 400, fields: []string{"rateLimit.limit"}},
		{name: "rateLimit period under 1s", body: named(`"rateLimit":{"limit":1,"period":"500ms"}`), status: 400, fields: []string{"rateLimit.period"}},
		{name: "rateLimit period over 24h", body: named(`"rateLimit":{"limit":1,"period":"25h"}`), status: 400, fields: []string{"rateLimit.period"}},
		{name: "rateLimit period finer than ms", body: named(`"rateLimit":{"limit":1,"period":"1.0000005s"}`), status: 400, fields: []string{"rateLimit.period"}},
		{name: "rateLimit period words", body: named(`"rateLimit":{"limit":1,"period":"a minute"}`), status: 400, fields: []string{"rateLimit.period"}},
		{name: "rateLimit period a number", body: named(`"rateLimit":{"limit":1,"period":60}`), status: 400, fields: []string{"rateLimit.period"}},
		{name: "rateLimit unknown member", body: named(`"rateLimit":{"limit":1,"period":"1m","burst":5}`), status: 400, fields: []string{"rateLimit.burst"}},

		{name: "metadata an array", body: named(`"metadata":[1]`), status: 400, fields: []string{"metadata"}},
		{name: "metadata over 4 kB", body: named(`"metadata":{"a":"` + strings.Repeat("x", 4090) + `"}`), status: 400, fields: []string{"metadata"}},
		{name: "enabled a string", body: named(`"enabled":"yes"`), status: 400, fields: []string{"enabled"}},
		{name: "enabled null", body: named(`"enabled":null`), status: 400, fields: []string{"enabled"}},

		{name: "owner a string", body: named(`"owner":"app"`), status: 400, fields: []string{"owner"}},
		{name: "owner empty", body: named(`"owner":{}`), status: 400, fields: []string{"owner.type", "owner.id"}},
		{name: "owner type unknown", body: named(`"owner":{"type":"user","id":"x"}`), status: 400, fields: []string{"owner.type"}},
		{name: "owner id empty", body: named(`"owner":{"type":"app","id":""}`), status: 400, fields: []string{"owner.id"}},
		{name: "owner id a number", body: named(`"owner":{"type":"app","id":7}`), status: 400, fields: []string{"owner.id"}},
		{name: "owner integration without its app", body: named(`"owner":{"type":"integration","id":"x"}`), status: 400, fields: []string{"owner.appId"}},
		{name: "owner app with an appId", body: named(`"owner":{"type":"app","id":"x","appId":"y"}`), status: 400, fields: []string{"owner.appId"}},
		{name: "owner unknown member", body: named(`"owner":{"type":"app","id":"x","name":"y"}`), status: 400, fields: []string{"owner.name"}},

		// Strict input (web.DecodeObject): what is stored is what was sent,
		// or the request is refused, with the member at fault named.
		{name: "name invalid UTF-8", body: "{\"name\":\"a\xffb\"}", status: 400},
		{name: "name UTF-8 of a surrogate", body: "{\"name\":\"\xed\xa0\x80\"}", status: 400},
		{name: "name lone surrogate", body: `{"name":"a\ud800"}`, status: 400, fields: []string{"name"}},
		{name: "name twice", body: `{"name":"a","name":"b"}`, status: 400, fields: []string{"name"}},
		{name: "allowedIps twice", body: named(`"allowedIps":["203.0.113.1"],"allowedIps":null`), status: 400, fields: []string{"allowedIps"}},
		{name: "permission with U+0000", body: named(`"permissions":["orders.read","a\u0000"]`), status: 400, fields: []string{"permissions.1"}},
		{name: "rateLimit limit -0", body: named(`"rateLimit":{"limit":-0,"period":"1m"}`), status: 400, fields: []string{"rateLimit.limit"}},
		{name: "rateLimit limit 2^64", body: named(`"rateLimit":{"limit":18446744073709551616,"period":"1m"}`), status: 400, fields: []string{"rateLimit.limit"}},
		{name: "metadata 1e-400", body: named(`"metadata":{"a":{"b":[1e-400]}}`), status: 400, fields: []string{"metadata.a.b.0"}},
		{name: "metadata 2^53+1", body: named(`"metadata":{"id":9007199254740993}`), status: 400, fields: []string{"metadata.id"}},
		{name: "metadata duplicate", body: named(`"metadata":{"a":1,"a":1}`), status: 400, fields: []string{"metadata.a"}},
		{name: "metadata 10,000 levels", body: named(`"metadata":{"a":` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `}`),
			status: 400, fields: []string{"metadata.a" + strings.Repeat(".0", 30)}},
		{name: "every problem at once", body: `{"name":"","type":"x","permissions":["a b"],"allowedIps":["10.0.0.1","nope"],"rateLimit":{"limit":0,"period":"1y"},"enabled":1}`,
			status: 400, fields: []string{"name", "type", "permissions.0", "allowedIps.0", "allowedIps.1", "rateLimit.limit", "rateLimit.period", "enabled"}},
	}
	appBodies := []bodyCase{
		{name: "malformed JSON", body: `{`, status: 400},
		{name: "empty object", body: `{}`, status: 400, fields: []string{"name"}, createOnly: true},
		{name: "name 101 characters", body: `{"name":"` + strings.Repeat("a", 101) + `"}`, status: 400, fields: []string{"name"}},
		{name: "name null", body: `{"name":null}`, status: 400, fields: []string{"name"}},
		{name: "unknown member", body: `{"name":"a","settings":{}}`, status: 400, fields: []string{"settings"}},
		{name: "metadata nested", body: `{"name":"a","metadata":{"a":{"b":1},"c":[1],"d":null}}`, status: 400, fields: []string{"metadata.a", "metadata.c", "metadata.d"}},
		{name: "metadata an array", body: `{"name":"a","metadata":["a"]}`, status: 400, fields: []string{"metadata"}},
		{name: "metadata over 4 kB", body: `{"name":"a","metadata":{"a":"` + strings.Repeat("x", 4090) + `"}}`, status: 400, fields: []string{"metadata"}},
	}

	type req struct {
		name, method, path, body string
		status                   int
		code                     string
		fields                   []string
	}
	codeOf := map[int]string{400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
		405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type"}
	var cases []req
	for _, b := range keyBodies {
		cases = append(cases, req{b.name, "POST", "/v1/keys", b.body, b.status, codeOf[b.status], b.fields})
		if !b.createOnly {
			cases = append(cases, req{b.name, "PATCH", keyPath, b.body, b.status, codeOf[b.status], b.fields})
		}
	}
	for _, b := range appBodies {
		cases = append(cases, req{b.name, "POST", "/v1/apps", b.body, b.status, codeOf[b.status], b.fields})
		if !b.createOnly {
			cases = append(cases, req{b.name, "PATCH", "/v1/apps/" + appID, b.body, b.status, codeOf[b.status], b.fields})
		}
	}
	owner := func(o string) string { return `{"name":"n","owner":` + o + `}` }
	cases = append(cases,
		req{"owner app id malformed", "POST", "/v1/keys", owner(`{"type":"app","id":"x"}`), 404, "not_found", nil},
		req{"owner app missing", "POST", "/v1/keys", owner(`{"type":"app","id":"` + missingApp + `"}`), 404, "not_found", nil},
		req{"owner integration missing", "POST", "/v1/keys", owner(`{"type":"integration","id":"` + missingApp + `","appId":"` + appID + `"}`), 404, "not_found", nil},
		req{"owner another account", "POST", "/v1/keys", owner(`{"type":"account","id":"` + missingApp + `"}`), 404, "not_found", nil},

		req{"limit 0", "GET", "/v1/keys?limit=0", "", 400, "invalid_request", []string{"limit"}},
		req{"limit 101", "GET", "/v1/keys?limit=101", "", 400, "invalid_request", []string{"limit"}},
		req{"limit words", "GET", "/v1/keys?limit=ten", "", 400, "invalid_request", []string{"limit"}},
		// Strict query (web.ParseQuery, web.ParseInt): nothing is dropped
		// or guessed at.
		req{"limit twice", "GET", "/v1/keys?limit=5&limit=50", "", 400, "invalid_request", []string{"limit"}},
		req{"limit in bad percent-encoding", "GET", "/v1/keys?limit=%zz", "", 400, "invalid_request", []string{"limit"}},
		req{"limit with a semicolon", "GET", "/v1/keys?limit=5;x", "", 400, "invalid_request", []string{"limit"}},
		req{"limit with a leading zero", "GET", "/v1/keys?limit=05", "", 400, "invalid_request", []string{"limit"}},
		req{"limit -0", "GET", "/v1/apps?limit=-0", "", 400, "invalid_request", []string{"limit"}},
		req{"cursor twice", "GET", "/v1/apps?cursor=a&cursor=b", "", 400, "invalid_request", []string{"cursor"}},
		req{"ownerId invalid UTF-8", "GET", "/v1/keys?ownerType=app&ownerId=%FF", "", 400, "invalid_request", []string{"ownerId"}},
		req{"granularity twice", "GET", keyPath + "/usage?granularity=day&granularity=minute", "", 400, "invalid_request", []string{"granularity"}},
		req{"a name in bad percent-encoding", "GET", "/v1/keys?%zz=1", "", 400, "invalid_request", []string{"%zz"}},
		req{"authorize cost with trailing letters", "GET", "/v1/authorize?cost=5abc", "", 400, "invalid_request", []string{"cost"}},
		req{"authorize cost twice", "GET", "/v1/authorize?cost=1&cost=2", "", 400, "invalid_request", []string{"cost"}},
		req{"authorize gateway twice", "GET", "/v1/authorize?gateway=nginx&app=a&gateway=envoy", "", 400, "invalid_request", []string{"gateway"}},
		req{"authorize permission name in bad percent-encoding", "GET", "/v1/authorize?perm%zzission=a", "", 400, "invalid_request", []string{"perm%zzission"}},
		req{"authorize app in bad percent-encoding", "GET", "/v1/authorize?app=%zz", "", 400, "invalid_request", []string{"app"}},
		req{"verify apps with null", "POST", "/v1/verify", `{"key":"x","apps":[null,""]}`, 400, "invalid_request", []string{"apps.0", "apps.1"}},
		req{"verify key twice", "POST", "/v1/verify", `{"key":"x","key":"y"}`, 400, "invalid_request", []string{"key"}},
		req{"roll gracePeriod twice", "POST", keyPath + "/roll", `{"gracePeriod":"1h","gracePeriod":"0"}`, 400, "invalid_request", []string{"gracePeriod"}},
		req{"cursor empty", "GET", "/v1/keys?cursor=", "", 400, "invalid_request", []string{"cursor"}},
		req{"cursor too long", "GET", "/v1/keys?cursor=" + strings.Repeat("k", 201), "", 400, "invalid_request", []string{"cursor"}},
		req{"ownerType unknown", "GET", "/v1/keys?ownerType=user&ownerId=x", "", 400, "invalid_request", []string{"ownerType"}},
		req{"ownerId empty", "GET", "/v1/keys?ownerType=app&ownerId=", "", 400, "invalid_request", []string{"ownerId"}},
		req{"ownerType alone", "GET", "/v1/keys?ownerType=app", "", 400, "invalid_request", []string{"ownerId"}},
		req{"ownerId alone", "GET", "/v1/keys?ownerId=" + appID, "", 400, "invalid_request", []string{"ownerType"}},
		req{"integration without ownerAppId", "GET", "/v1/keys?ownerType=integration&ownerId=" + appID, "", 400, "invalid_request", []string{"ownerAppId"}},
		req{"every list problem at once", "GET", "/v1/keys?limit=0&cursor=&ownerId=x", "", 400, "invalid_request", []string{"limit", "cursor", "ownerType"}},
		req{"apps limit 101", "GET", "/v1/apps?limit=101", "", 400, "invalid_request", []string{"limit"}},
		req{"apps cursor not an app id", "GET", "/v1/apps?cursor=nope", "", 400, "invalid_request", []string{"cursor"}},

		req{"usage from words", "GET", keyPath + "/usage?from=yesterday", "", 400, "invalid_request", []string{"from"}},
		req{"usage to words", "GET", keyPath + "/usage?to=now&granularity=week", "", 400, "invalid_request", []string{"to", "granularity"}},
		req{"usage from after to", "GET", keyPath + "/usage?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z", "", 400, "invalid_request", []string{"from"}},
		req{"usage a year by minute", "GET", keyPath + "/usage?from=2029-01-01T00:00:00Z&to=2030-01-01T00:00:00Z&granularity=minute", "", 400, "invalid_request", []string{"granularity"}},
		req{"usage unknown key", "GET", "/v1/keys/key_nope/usage", "", 404, "not_found", nil},

		req{"roll grace words", "POST", keyPath + "/roll", `{"gracePeriod":"forever"}`, 400, "invalid_request", []string{"gracePeriod"}},
		req{"roll grace a number", "POST", keyPath + "/roll", `{"gracePeriod":3600}`, 400, "invalid_request", []string{"gracePeriod"}},
		req{"roll grace negative", "POST", keyPath + "/roll", `{"gracePeriod":"-1h"}`, 400, "invalid_request", []string{"gracePeriod"}},
		req{"roll unknown member", "POST", keyPath + "/roll", `{"grace":"1h"}`, 400, "invalid_request", []string{"grace"}},
		req{"roll malformed", "POST", keyPath + "/roll", `{`, 400, "invalid_request", nil},
		req{"roll unknown key", "POST", "/v1/keys/key_nope/roll", `{}`, 404, "not_found", nil},

		req{"get unknown key", "GET", "/v1/keys/key_nope", "", 404, "not_found", nil},
		req{"get over-long id", "GET", "/v1/keys/" + strings.Repeat("k", 101), "", 404, "not_found", nil},
		req{"patch unknown key", "PATCH", "/v1/keys/key_nope", `{"name":"x"}`, 404, "not_found", nil},
		req{"delete unknown key", "DELETE", "/v1/keys/key_nope", "", 404, "not_found", nil},
		req{"delete itself", "DELETE", "/v1/keys/" + s.Account.ID, "", 409, "conflict", nil},
		req{"get malformed app", "GET", "/v1/apps/nope", "", 404, "not_found", nil},
		req{"get missing app", "GET", "/v1/apps/" + missingApp, "", 404, "not_found", nil},
		req{"patch missing app", "PATCH", "/v1/apps/" + missingApp, `{"name":"x"}`, 404, "not_found", nil},
		req{"delete missing app", "DELETE", "/v1/apps/" + missingApp, "", 404, "not_found", nil},

		req{"unknown route", "GET", "/v1/nope", "", 404, "not_found", nil},
		req{"the root of /v1", "GET", "/v1/", "", 404, "not_found", nil},
		req{"under a key", "GET", keyPath + "/secrets", "", 404, "not_found", nil},
		req{"under an app", "POST", "/v1/apps/" + appID + "/keys", `{}`, 404, "not_found", nil},
		req{"DELETE the key list", "DELETE", "/v1/keys", "", 405, "method_not_allowed", nil},
		req{"PUT a key", "PUT", keyPath, `{"name":"x"}`, 405, "method_not_allowed", nil},
		req{"GET a roll", "GET", keyPath + "/roll", "", 405, "method_not_allowed", nil},
		req{"POST whoami", "POST", "/v1/whoami", `{}`, 405, "method_not_allowed", nil},
	)

	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %s %s", tc.method, strings.SplitN(tc.path, "?", 2)[0], tc.name), func(t *testing.T) {
			before := s.Snapshot(t)
			resp, body := s.call(t, tc.method, tc.path, s.admin, tc.body)
			wantError(t, resp, body, tc.status, tc.code, tc.fields...)
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			wantUnchanged(t, s, before)
		})
	}

	t.Run("Allow lists the path's methods", func(t *testing.T) {
		for path, want := range map[string]string{
			"/v1/apps":          "GET, HEAD, POST",
			"/v1/apps/" + appID: "GET, HEAD, PATCH, DELETE",
			"/v1/keys":          "GET, HEAD, POST",
			keyPath:             "GET, HEAD, PATCH, DELETE",
			keyPath + "/roll":   "POST",
			keyPath + "/usage":  "GET, HEAD",
			"/v1/whoami":        "GET, HEAD",
		} {
			resp, body := s.call(t, "PUT", path, s.admin, `{}`)
			wantError(t, resp, body, http.StatusMethodNotAllowed, "method_not_allowed")
			if got := resp.Header.Get("Allow"); got != want {
				t.Errorf("PUT %s: Allow = %q, want %q", path, got, want)
			}
		}
	})

	t.Run("content types", func(t *testing.T) {
		for _, route := range []struct{ method, path string }{
			{"POST", "/v1/keys"}, {"PATCH", keyPath}, {"POST", "/v1/apps"}, {"PATCH", "/v1/apps/" + appID}, {"POST", keyPath + "/roll"},
		} {
			before := s.Snapshot(t)
			resp, body := s.call(t, route.method, route.path, s.admin, `{"name":"x"}`, "Content-Type", "text/plain")
			wantError(t, resp, body, http.StatusUnsupportedMediaType, "unsupported_media_type")
			wantUnchanged(t, s, before)
		}
	})

	t.Run("refusals come before the body is read", func(t *testing.T) {
		for _, body := range []string{`{`, `{}`, `{"name":"` + strings.Repeat("x", 100_001) + `"}`} {
			before := s.Snapshot(t)
			resp, got := s.call(t, "POST", "/v1/keys", "", body)
			wantError(t, resp, got, http.StatusUnauthorized, "unauthorized")
			wantUnchanged(t, s, before)
		}
	})

	t.Run("private ranges when the deployment allows them", func(t *testing.T) {
		private := newStackWithConfig(t, webConfigAllowingPrivate())
		got := private.createKey(t, private.admin, `{"name":"internal","allowedIps":["10.0.0.0/8","::1"]}`)
		wantJSON(t, "allowedIps", got.AllowedIPs, `["10.0.0.0/8","::1"]`)
	})

	t.Run("the snapshot sees a real change", func(t *testing.T) {
		before := s.Snapshot(t)
		s.createKey(t, s.admin, `{"name":"real"}`)
		if s.Snapshot(t) == before {
			t.Fatal("Snapshot did not change after a key was created: the checks above prove nothing")
		}
	})

	if got := s.getKey(t, k.ID); got.Name != "existing" || got.Permissions[0] != "*" || got.Type != "secret" {
		t.Errorf("the existing key changed: %+v", got)
	}
	wantNoErrorLogged(t, s)
}
