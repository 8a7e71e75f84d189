package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/httpapi/web"
)

// cookieName is the session cookie. Its value is the session token, which
// the store keeps only as a hash (see core.StartSession).
const cookieName = "latchkey_session"

// csrfField is the hidden form field that carries the CSRF token.
const csrfField = "csrf"

// maxFormBytes bounds a form: the largest, a key's, holds metadata of 4 kB
// and up to a hundred permissions, addresses and ACL entries.
const maxFormBytes = 64 << 10

// session is a signed-in request: the key it acts as (read afresh from the
// store for this request) and the token its CSRF token derives from.
type session struct {
	principal *latchkey.Principal
	token     string
	expiresAt time.Time
}

// csrf is the session's CSRF token: an HMAC of the session token, so that
// it needs no storage, changes with each session, and cannot be derived
// from anything a page shows.
func (s *session) csrf() string {
	mac := hmac.New(sha256.New, []byte(s.token))
	mac.Write([]byte("latchkey dashboard csrf"))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// csrfError refuses a change that may not come from the dashboard itself.
type csrfError struct{ message string }

func (e *csrfError) Error() string { return e.message }

// checkChange refuses a POST that another site could have made the browser
// send: one the browser marks as cross-origin (Sec-Fetch-Site, Origin;
// net/http's CrossOriginProtection), or without the session's CSRF token.
// The cookie is SameSite=Strict as well; each defence covers browsers the
// others may not.
func (d *dashboard) checkChange(r *http.Request, s *session) error {
	if err := d.origins.Check(r); err != nil {
		return &csrfError{"This request came from another site, so it was refused. Use the dashboard's own pages."}
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return latchkey.Errorf(latchkey.EINVALID, "The form could not be read")
	}
	if s != nil && !hmac.Equal([]byte(r.PostForm.Get(csrfField)), []byte(s.csrf())) {
		return &csrfError{"This form is out of date or did not come from this dashboard. Reload the page and try again."}
	}
	return nil
}

// session returns r's session, or EUNAUTHORIZED.
func (d *dashboard) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Sign in to continue"}
	}
	p, sess, err := d.svc.Session(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	return &session{principal: p, token: c.Value, expiresAt: sess.ExpiresAt}, nil
}

// sessionFailed answers a request without a usable session: a page asks
// the browser to sign in and come back; a change is refused (401), since
// what it would have done cannot be replayed safely.
func (d *dashboard) sessionFailed(w http.ResponseWriter, r *http.Request, err error) {
	if latchkey.ErrorCode(err) != latchkey.EUNAUTHORIZED {
		d.fail(w, r, nil, err)
		return
	}
	_, cookieErr := r.Cookie(cookieName)
	hadSession := cookieErr == nil
	if hadSession {
		d.clearCookie(w, r)
	}
	if r.Method == http.MethodGet {
		q := url.Values{"next": {r.URL.RequestURI()}}
		if hadSession {
			q.Set("ended", "1")
		}
		http.Redirect(w, r, Base+"/sign-in?"+q.Encode(), http.StatusSeeOther)
		return
	}
	d.render(w, r, http.StatusUnauthorized, "error", &page{Title: "Session ended", Data: errorView{
		Heading: "Your session has ended", Message: "Nothing was changed. Sign in again, then repeat what you were doing.",
	}})
}

// signInView is what the sign-in page shows.
type signInView struct {
	KeyID   string
	Next    string
	Message string
	Ended   bool
}

// signInPage shows the sign-in form.
func (d *dashboard) signInPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if s, err := d.session(r); err == nil && s != nil {
		http.Redirect(w, r, safeNext(q.Get("next")), http.StatusSeeOther)
		return
	}
	d.render(w, r, http.StatusOK, "signin", &page{Title: "Sign in", Data: signInView{
		Next: safeNext(q.Get("next")), Ended: q.Get("ended") == "1",
	}})
}

// signIn checks a key id and secret (web.SignIn: the verifier, the
// throttle, the audit of a refusal) and starts a session for an account
// key.
func (d *dashboard) signIn(w http.ResponseWriter, r *http.Request) {
	if err := d.checkChange(r, nil); err != nil {
		d.fail(w, r, nil, err)
		return
	}
	keyID, sec := strings.TrimSpace(r.PostForm.Get("keyId")), strings.TrimSpace(r.PostForm.Get("secret"))
	view := signInView{KeyID: keyID, Next: safeNext(r.PostForm.Get("next"))}
	refuse := func(status int, message string) {
		view.Message = message
		d.render(w, r, status, "signin", &page{Title: "Sign in", Data: view})
	}
	if keyID == "" || sec == "" {
		refuse(http.StatusBadRequest, "Enter the Key ID and the Secret of an account key.")
		return
	}
	p, err := web.SignIn(r, d.cfg, d.verifier, keyID, sec)
	var token string
	var sess *latchkey.Session
	if err == nil {
		token, sess, err = d.svc.StartSession(r.Context(), p, sec, d.lifetime)
	}
	switch latchkey.ErrorCode(err) {
	case "":
	case latchkey.EUNAUTHORIZED:
		refuse(http.StatusUnauthorized, "That Key ID and Secret do not match an active key.")
		return
	case latchkey.ETHROTTLED:
		web.SetThrottled(w, err)
		wait := web.RetryAfterSeconds(latchkey.ErrorRetryAfter(err))
		refuse(http.StatusTooManyRequests, "Too many failed sign-ins from your address. Wait "+strconv.Itoa(wait)+" seconds, then try again.")
		return
	case latchkey.EFORBIDDEN:
		refuse(http.StatusForbidden, "That key may not sign in here: the dashboard takes an account's secret key, used from an address it allows.")
		return
	default:
		d.fail(w, r, nil, err)
		return
	}
	// A session the browser still held ends: one browser, one session.
	if old, err := d.session(r); err == nil {
		if err := d.svc.EndSession(r.Context(), old.principal, old.token); err != nil {
			d.logger.WarnContext(r.Context(), "dashboard: cannot end the session replaced by a sign-in", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: token, Path: Base, Expires: sess.ExpiresAt,
		MaxAge: int(sess.ExpiresAt.Sub(d.now()).Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: d.secure(r),
	})
	http.Redirect(w, r, view.Next, http.StatusSeeOther)
}

// signOut ends the session and forgets the cookie.
func (d *dashboard) signOut(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.svc.EndSession(r.Context(), s.principal, s.token); err != nil {
		return err
	}
	d.clearCookie(w, r)
	http.Redirect(w, r, Base+"/sign-in", http.StatusSeeOther)
	return nil
}

func (d *dashboard) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Base, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: d.secure(r)})
}

// secure reports whether the browser reached us over TLS (directly, or as
// a trusted proxy or the configured public URL says), when the cookie
// must be Secure.
func (d *dashboard) secure(r *http.Request) bool {
	return strings.HasPrefix(d.cfg.BaseURL(r), "https://")
}

// safeNext is where to go after signing in: a dashboard path the browser
// asked for, never another site (an open redirect).
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.User != nil ||
		!strings.HasPrefix(u.Path, Base+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Base + "/"
	}
	return u.RequestURI()
}
