package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/store"
)

// Wrong password, unknown user and disabled user get the same page.
func TestSignInFailuresIdentical(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	e.addUser(t, "mallory", "battery staple")
	if err := e.dir.SetDisabled(t.Context(), "mallory", true); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	form := b.get("/signin")
	attempts := []struct{ name, user, password string }{
		{"wrong password", "alice", "wrong horse"},
		{"unknown user", "bob", "correct horse"},
		{"disabled user", "mallory", "battery staple"},
		{"invalid name", "a b", "whatever1"},
	}
	var first string
	for _, a := range attempts {
		r := b.submitSignIn(form, a.user, a.password)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "Wrong user name or password.") {
			t.Errorf("%s: status %d:\n%s", a.name, r.status, r.body)
			continue
		}
		if r.location() != "" || b.cookie("ssooidc_session") != "" {
			t.Errorf("%s: signed in anyway", a.name)
		}
		// The page repeats what was typed as the user name; apart from
		// that it must be byte for byte the same.
		body := strings.Replace(r.body, `value="`+a.user+`"`, `value="USER"`, 1)
		if a.user == "a b" {
			body = strings.Replace(r.body, `value="a b"`, `value="USER"`, 1)
		}
		if first == "" {
			first = body
		} else if diff := cmp.Diff(first, body); diff != "" {
			t.Errorf("%s: page differs (-first +this):\n%s", a.name, diff)
		}
	}
	if strings.Contains(e.logs.String(), "wrong horse") {
		t.Errorf("a password reached the log")
	}
}

// A signed-in browser whose user is then disabled is signed out.
func TestDisabledUserSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	_, da := e.startDevice(t, "cli")
	b := e.browser(t)
	b.signIn("alice", "correct horse")
	if r := b.get(devicePath(t, da.VerificationURIComplete)); r.status != http.StatusOK {
		t.Fatalf("consent: %d", r.status)
	}
	if err := e.dir.SetDisabled(t.Context(), "alice", true); err != nil {
		t.Fatal(err)
	}
	r := b.get(devicePath(t, da.VerificationURIComplete))
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/signin") {
		t.Errorf("disabled user's session: %d %q, want a redirect to sign in", r.status, r.location())
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	c, da := e.startDevice(t, "cli")
	b := e.browser(t)
	b.signIn("alice", "correct horse")
	r := b.get(devicePath(t, da.VerificationURIComplete))
	in := inputs(r.body)
	good := url.Values{"user_code": {in["user_code"]}, "csrf_token": {in["csrf_token"]}, "action": {"allow"}}
	without := url.Values{"user_code": {in["user_code"]}, "action": {"allow"}}
	wrong := url.Values{"user_code": {in["user_code"]}, "csrf_token": {e.dir.CSRFToken("sso_bs_other")}, "action": {"allow"}}

	// A token for another browser's session is no good either.
	other := e.browser(t)
	other.signIn("alice", "correct horse")
	otherToken := url.Values{"user_code": {in["user_code"]}, "csrf_token": {e.dir.CSRFToken(other.cookie("ssooidc_session"))}, "action": {"allow"}}

	cases := []struct {
		name    string
		path    string
		form    url.Values
		headers []string
	}{
		{"decide without token", "/device/decide", without, nil},
		{"decide with a wrong token", "/device/decide", wrong, nil},
		{"decide with another session's token", "/device/decide", otherToken, nil},
		{"decide cross-site", "/device/decide", good, []string{"Sec-Fetch-Site", "cross-site"}},
		{"decide same-site (sibling host)", "/device/decide", good, []string{"Sec-Fetch-Site", "same-site"}},
		{"decide from another origin", "/device/decide", good, []string{"Origin", "https://evil.example"}},
		{"sign out without token", "/signout", url.Values{}, nil},
		{"sign out cross-site", "/signout", url.Values{"csrf_token": {e.dir.CSRFToken(b.cookie("ssooidc_session"))}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"authorize decide without token", "/authorize/decide", url.Values{"action": {"allow"}}, nil},
	}
	for _, tc := range cases {
		r := b.post(tc.path, tc.form, tc.headers...)
		if r.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403:\n%s", tc.name, r.status, r.body)
		}
		checkSecurityHeaders(t, tc.name, r)
	}
	if _, err := e.poll(t, c, da); kindOf(err) != "authorization_pending" {
		t.Errorf("after forged posts, poll = %v, want still pending", err)
	}
	if r := b.get("/device"); !strings.Contains(r.body, "Signed in as alice") {
		t.Errorf("a forged sign-out ended the session")
	}

	// Sign-in: the pre-session token is required, and cross-site posts fail.
	fresh := e.browser(t)
	form := fresh.get("/signin")
	pre := inputs(form.body)["csrf_token"]
	for _, tc := range []struct {
		name    string
		form    url.Values
		headers []string
	}{
		{"sign in without token", url.Values{"username": {"alice"}, "password": {"correct horse"}}, nil},
		{"sign in with a wrong token", url.Values{"csrf_token": {"x"}, "username": {"alice"}, "password": {"correct horse"}}, nil},
		{"sign in cross-site", url.Values{"csrf_token": {pre}, "username": {"alice"}, "password": {"correct horse"}}, []string{"Sec-Fetch-Site", "cross-site"}},
	} {
		r := fresh.post("/signin", tc.form, tc.headers...)
		if r.status != http.StatusForbidden || fresh.cookie("ssooidc_session") != "" {
			t.Errorf("%s: status %d, session %q; want 403 and no session", tc.name, r.status, fresh.cookie("ssooidc_session"))
		}
	}
	// A browser that never loaded the form has no pre-session cookie.
	blank := e.browser(t)
	if r := blank.post("/signin", url.Values{"csrf_token": {pre}, "username": {"alice"}, "password": {"correct horse"}}); r.status != http.StatusForbidden {
		t.Errorf("sign in with a token but no pre-session cookie: %d, want 403", r.status)
	}
	// The real thing, same-origin, works.
	if r := fresh.post("/signin", url.Values{"csrf_token": {pre}, "username": {"alice"}, "password": {"correct horse"}}, "Sec-Fetch-Site", "same-origin"); r.status != http.StatusSeeOther {
		t.Errorf("same-origin sign-in: %d, want 303", r.status)
	}
	if r := b.post("/device/decide", good, "Sec-Fetch-Site", "same-origin"); r.status != http.StatusOK {
		t.Errorf("same-origin decide with the right token: %d, want 200", r.status)
	}
}

func TestOpenRedirect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	tests := []struct{ next, want string }{
		{"https://evil.example/", "/device"},
		{"//evil.example/x", "/device"},
		{"/\\evil.example", "/device"},
		{"\\\\evil.example", "/device"},
		{"/\t/evil.example", "/device"},
		{"/\n/evil.example", "/device"},
		{"javascript:alert(1)", "/device"},
		{"evil.example", "/device"},
		{"", "/device"},
		{"/" + strings.Repeat("a", 9000), "/device"},
		{"/device?user_code=BCDF-GHJK", "/device?user_code=BCDF-GHJK"},
		{"/authorize?client_id=x", "/authorize?client_id=x"},
	}
	for _, tc := range tests {
		b := e.browser(t)
		form := b.get("/signin?next=" + url.QueryEscape(tc.next))
		if got := inputs(form.body)["next"]; got != tc.want {
			t.Errorf("GET /signin?next=%q: form next = %q, want %q", tc.next, got, tc.want)
		}
		// Posting the hostile value directly is neutralised too.
		r := b.post("/signin", url.Values{"csrf_token": {inputs(form.body)["csrf_token"]}, "next": {tc.next}, "username": {"alice"}, "password": {"correct horse"}})
		if r.status != http.StatusSeeOther || r.location() != tc.want {
			t.Errorf("POST /signin next=%q: %d %q, want 303 %q", tc.next, r.status, r.location(), tc.want)
		}
		// Signed in, GET /signin sends straight to a safe next.
		if r := b.get("/signin?next=" + url.QueryEscape(tc.next)); r.location() != tc.want {
			t.Errorf("signed-in GET /signin?next=%q → %q, want %q", tc.next, r.location(), tc.want)
		}
	}
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	b := e.browser(t)
	b.signIn("alice", "correct horse")
	cookie := b.cookie("ssooidc_session")
	if _, _, err := e.dir.Session(t.Context(), cookie); err != nil {
		t.Fatalf("session after sign-in: %v", err)
	}
	r := b.get("/signout")
	if r.status != http.StatusOK {
		t.Fatalf("GET /signout: %d", r.status)
	}
	if fs := forms(r.body); len(fs) != 1 || fs[0]["action"] != "/signout" || fs[0]["method"] != "post" {
		t.Errorf("sign-out forms = %v", fs)
	}
	if _, _, err := e.dir.Session(t.Context(), cookie); err != nil {
		t.Errorf("GET /signout ended the session: %v", err)
	}
	r = b.post("/signout", url.Values{"csrf_token": {inputs(r.body)["csrf_token"]}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "You are signed out") {
		t.Fatalf("POST /signout: %d:\n%s", r.status, r.body)
	}
	if !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), "ssooidc_session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; SameSite=Lax") {
		t.Errorf("sign-out did not clear the cookie: %q", r.header.Values("Set-Cookie"))
	}
	if b.cookie("ssooidc_session") != "" {
		t.Errorf("cookie still in the jar")
	}
	if _, _, err := e.dir.Session(t.Context(), cookie); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after sign-out: %v, want ErrNotFound", err)
	}
	// A copy of the old cookie no longer works.
	thief := e.browser(t)
	u, _ := url.Parse(e.srv.URL)
	thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: "ssooidc_session", Value: cookie, Path: "/"}})
	if r := thief.get("/device?user_code=BCDF-GHJK"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/signin") {
		t.Errorf("old cookie after sign-out: %d %q, want a redirect to sign in", r.status, r.location())
	}
	if r := b.get("/signout"); !strings.Contains(r.body, "You are signed out") {
		t.Errorf("GET /signout when signed out:\n%s", r.body)
	}
	if r := b.post("/signout", url.Values{}); r.status != http.StatusOK {
		t.Errorf("POST /signout when signed out: %d", r.status)
	}
}

// Signing in always starts a fresh session; the one the browser had ends.
func TestSignInRotatesSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	e.addUser(t, "bob", "battery staple")
	b := e.browser(t)
	b.signIn("alice", "correct horse")
	first := b.cookie("ssooidc_session")
	// Signed in, GET /signin redirects; post a sign-in form fetched by a
	// signed-out browser, with its pre-session cookie.
	fresh := e.browser(t)
	form := fresh.get("/signin")
	u, _ := url.Parse(e.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "ssooidc_signin", Value: fresh.cookie("ssooidc_signin"), Path: "/"}})
	if r := b.submitSignIn(form, "bob", "battery staple"); r.status != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", r.status)
	}
	second := b.cookie("ssooidc_session")
	if second == "" || second == first {
		t.Fatalf("session not rotated: %q then %q", first, second)
	}
	if _, _, err := e.dir.Session(t.Context(), first); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("previous session after a new sign-in: %v, want ErrNotFound", err)
	}
	_, user, err := e.dir.Session(t.Context(), second)
	if err != nil || user.Name != "bob" {
		t.Errorf("new session = %v, %v; want bob's", user.Name, err)
	}
	if b.cookie("ssooidc_signin") != "" {
		t.Errorf("pre-session cookie left after sign-in")
	}
}
