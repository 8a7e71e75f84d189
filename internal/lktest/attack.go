package lktest

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// Header is one header line, sent exactly as given.
type Header [2]string

// RawRequest is a request SendRaw writes byte for byte.
type RawRequest struct {
	Method, Path, Body string
	Headers            []Header
}

// RawResponse is what SendRaw read back.
type RawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// SendRaw writes req to addr on a connection of its own, from localAddr
// ("" for any), its header lines in exactly the order and number given, and
// reads the answer. net/http's client would sort header names and could
// not send the same header twice in a chosen order among others.
func SendRaw(tb testing.TB, addr, localAddr string, req RawRequest) RawResponse {
	tb.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if localAddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localAddr)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", req.Method, req.Path, addr)
	for _, h := range req.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if req.Body != "" {
		b.WriteString("Content-Type: application/json\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(req.Body), req.Body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: req.Method})
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return RawResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// SurfaceOf names the surface a path belongs to, for its error format:
// "sunshine", "rebilly", "native", or "nginx" for an authorize call that
// asks for nginx's answers (no body).
func SurfaceOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/v2/"):
		return "sunshine"
	case strings.HasPrefix(path, "/api-keys"), strings.HasPrefix(path, "/organizations/"):
		return "rebilly"
	case strings.HasPrefix(path, "/v1/authorize") && strings.Contains(path, "gateway=nginx"):
		return "nginx"
	}
	return "native"
}

// CheckRefusal checks that an answer of 400 or more to a request for path
// is in its surface's own error format, with the error code its status
// calls for (exactly code, when set; Rebilly's problems carry none).
func CheckRefusal(tb testing.TB, what, path string, r RawResponse, code string) {
	tb.Helper()
	if r.Status < 400 {
		return
	}
	surface := SurfaceOf(path)
	if surface == "nginx" {
		if len(r.Body) != 0 {
			tb.Errorf("%s: authorize for nginx answered with a body %s", what, r.Body)
		}
		if r.Status == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
			tb.Errorf("%s: 401 without WWW-Authenticate", what)
		}
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Errorf("%s: Content-Type %q, want JSON", what, ct)
	}
	byStatus := map[int][]string{401: {"unauthorized"}, 403: {"forbidden"}, 409: {"conflict"}}
	switch surface {
	case "sunshine":
		var body struct {
			Errors []struct{ Code, Title string }
		}
		byStatus[404] = []string{"app_not_found", "integration_not_found", "not_found"}
		if err := json.Unmarshal(r.Body, &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Title == "" {
			tb.Errorf("%s: not a Sunshine error: %s", what, r.Body)
			return
		}
		checkCode(tb, what, body.Errors[0].Code, byStatus[r.Status], code)
	case "rebilly":
		var body struct {
			Type, Title, Detail string
			Status              int
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || body.Type == "" || body.Title == "" || body.Status != r.Status {
			tb.Errorf("%s: not a Rebilly problem with status %d: %s", what, r.Status, r.Body)
		}
		if want := map[int]string{401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}[r.Status]; want != "" && body.Title != want {
			tb.Errorf("%s: problem title %q, want %q", what, body.Title, want)
		}
	case "native":
		var body struct {
			Error struct{ Code, Message string }
		}
		byStatus[404] = []string{"not_found"}
		if err := json.Unmarshal(r.Body, &body); err != nil || body.Error.Message == "" {
			tb.Errorf("%s: not a native error: %s", what, r.Body)
			return
		}
		checkCode(tb, what, body.Error.Code, byStatus[r.Status], code)
		if r.Status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") {
			tb.Errorf("%s: 401 with WWW-Authenticate %q", what, r.Header.Get("WWW-Authenticate"))
		}
	}
}

func checkCode(tb testing.TB, what, got string, allowed []string, exact string) {
	tb.Helper()
	if exact != "" {
		if got != exact {
			tb.Errorf("%s: error code %q, want %q", what, got, exact)
		}
		return
	}
	if len(allowed) > 0 && !slices.Contains(allowed, got) {
		tb.Errorf("%s: error code %q, want one of %q", what, got, allowed)
	}
}

// StateDiff lists the lines of one StateDumper dump missing from the other.
func StateDiff(before, after string) string {
	b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
	var out strings.Builder
	for _, l := range b {
		if !slices.Contains(a, l) {
			fmt.Fprintf(&out, "- %s\n", l)
		}
	}
	for _, l := range a {
		if !slices.Contains(b, l) {
			fmt.Fprintf(&out, "+ %s\n", l)
		}
	}
	return out.String()
}

// CredentialForm is a way a client presents a key: the header lines it
// sends for the key's id, secret and scope (which its JWTs claim).
type CredentialForm struct {
	Name    string
	Headers func(id, secret, scope string) []Header
}

// CredentialForms are every credential form Latchkey accepts.
var CredentialForms = []CredentialForm{
	{"Basic", func(id, secret, _ string) []Header {
		return []Header{{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))}}
	}},
	{"Bearer secret", func(_, secret, _ string) []Header { return []Header{{"Authorization", "Bearer " + secret}} }},
	{"bare secret", func(_, secret, _ string) []Header { return []Header{{"Authorization", secret}} }},
	{"REB-APIKEY", func(_, secret, _ string) []Header { return []Header{{"REB-APIKEY", secret}} }},
	{"X-API-Key", func(_, secret, _ string) []Header { return []Header{{"X-API-Key", secret}} }},
	{"Bearer JWT", func(id, secret, scope string) []Header {
		now := time.Now()
		return []Header{{"Authorization", "Bearer " + SignHS256(map[string]any{"alg": "HS256", "typ": "JWT", "kid": id},
			map[string]any{"scope": scope, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}, []byte(secret))}}
	}},
}

// JWTPart is the base64url encoding of v's JSON, as a part of a JWT.
func JWTPart(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// SignHS256 returns header.payload.signature with an HMAC-SHA256 signature
// under any key, empty included, whatever the header's alg says: forged
// tokens need what a JWT library refuses to make.
func SignHS256(header, payload any, key []byte) string {
	in := JWTPart(header) + "." + JWTPart(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
