package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func checkSecurityHeaders(t *testing.T, name string, r response) {
	t.Helper()
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", name, k, got, v)
		}
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: CSP %q lacks %q", name, csp, d)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
		t.Errorf("%s: CSP %q allows scripts or unsafe sources", name, csp)
	}
	if r.status < 300 || r.status >= 400 {
		if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		low := strings.ToLower(r.body)
		for _, bad := range []string{"<script", " style=", "<style", "javascript:", " on", "goroutine", "panic"} {
			if bad == " on" {
				if strings.Contains(low, " onclick=") || strings.Contains(low, " onload=") || strings.Contains(low, " onsubmit=") {
					t.Errorf("%s: page has an inline event handler", name)
				}
				continue
			}
			if strings.Contains(low, bad) {
				t.Errorf("%s: page contains %q", name, bad)
			}
		}
		if !strings.Contains(r.body, `<meta name="viewport" content="width=device-width, initial-scale=1">`) {
			t.Errorf("%s: page lacks the viewport meta tag", name)
		}
	}
	if r.header.Get("Strict-Transport-Security") != "" {
		t.Errorf("%s: HSTS on an http issuer", name)
	}
}

func TestSecurityHeadersOnEveryPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	_, da := e.startDevice(t, "cli")
	c := e.registerPKCE(t)
	_, challenge := pkce()

	pages := map[string]func(b *browser) response{
		"enter code":           func(b *browser) response { return b.get("/device") },
		"sign-in form":         func(b *browser) response { return b.get("/signin") },
		"sign-out form":        func(b *browser) response { return b.get("/signout") },
		"device consent":       func(b *browser) response { return b.get(devicePath(t, da.VerificationURIComplete)) },
		"bad code":             func(b *browser) response { return b.get("/device?user_code=nope") },
		"authorize consent":    func(b *browser) response { return b.get("/authorize?" + cliQuery(c.ClientID, cliCallback, challenge)) },
		"authorize error page": func(b *browser) response { return b.get("/authorize?client_id=nope") },
		"authorize error redir": func(b *browser) response {
			return b.get("/authorize?client_id=" + c.ClientID + "&redirect_uri=" + url.QueryEscape(cliCallback))
		},
		"bad action": func(b *browser) response {
			return b.post("/device/decide", url.Values{"csrf_token": {e.dir.CSRFToken(b.cookie("ssooidc_session"))}, "user_code": {da.UserCode}, "action": {"maybe"}})
		},
		"forbidden":        func(b *browser) response { return b.post("/device/decide", url.Values{}) },
		"cross-site":       func(b *browser) response { return b.post("/signout", url.Values{}, "Sec-Fetch-Site", "cross-site") },
		"static not found": func(b *browser) response { return b.get("/static/nope.css") },
		"wrong password":   func(b *browser) response { return b.submitSignIn(b.get("/signout"), "x", "y") },
		"signed-out signout": func(b *browser) response {
			return b.post("/signout", url.Values{"csrf_token": {e.dir.CSRFToken(b.cookie("ssooidc_session"))}})
		},
	}
	b := e.browser(t)
	b.signIn("alice", "correct horse")
	for name, page := range pages {
		if name == "wrong password" {
			continue
		}
		checkSecurityHeaders(t, name, page(b))
	}
	anon := e.browser(t)
	form := anon.get("/signin")
	checkSecurityHeaders(t, "failed sign-in", anon.submitSignIn(form, "alice", "nope nope"))
	checkSecurityHeaders(t, "redirect to sign-in", anon.get("/device?user_code=BCDF-GHJK"))

	r := anon.get("/static/style.css")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/css; charset=utf-8" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("style.css: %d %q", r.status, r.header.Get("Content-Type"))
	}
	if !strings.Contains(r.body, "max-width") {
		t.Errorf("style.css lacks the responsive layout")
	}
}

// Under an https issuer the cookies are Secure with the __Host- prefix
// and HSTS is sent.
func TestHTTPSIssuer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	mux := http.NewServeMux()
	New(e.engine, e.dir, Config{Issuer: "https://sso.example.com", Now: e.clock.Now}).Register(mux)
	serve := func(req *http.Request) *http.Response {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w.Result()
	}
	resp := serve(httptest.NewRequest("GET", "https://sso.example.com/signin?next=/device", nil))
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("HSTS = %q", hsts)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != "__Host-ssooidc_signin" || !cookies[0].Secure || !cookies[0].HttpOnly || cookies[0].Path != "/" || cookies[0].Domain != "" {
		t.Fatalf("pre-session cookie = %+v", cookies)
	}
	pre := cookies[0]
	form := url.Values{"csrf_token": {e.dir.CSRFToken(pre.Value)}, "next": {"/device"}, "username": {"alice"}, "password": {"correct horse"}}
	req := httptest.NewRequest("POST", "https://sso.example.com/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(pre)
	resp = serve(req)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /signin: %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-ssooidc_session" {
			session = c
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.MaxAge != 8*3600 {
		t.Fatalf("session cookie = %+v", session)
	}
	// The unprefixed name is not honoured under https.
	req = httptest.NewRequest("GET", "https://sso.example.com/device?user_code=BCDF-GHJK", nil)
	req.AddCookie(&http.Cookie{Name: "ssooidc_session", Value: session.Value})
	if resp := serve(req); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("unprefixed cookie accepted under https: %d", resp.StatusCode)
	}
	req = httptest.NewRequest("GET", "https://sso.example.com/device?user_code=BCDF-GHJK", nil)
	req.AddCookie(session)
	if resp := serve(req); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("prefixed cookie: %d, want the bad-code page", resp.StatusCode)
	}
}

// Hostile or broken input never panics nor shows internals.
func TestGarbageInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	for _, signedIn := range []bool{false, true} {
		b := e.browser(t)
		if signedIn {
			b.signIn("alice", "correct horse")
		}
		csrf := e.dir.CSRFToken(b.cookie("ssooidc_session"))
		gets := []string{
			"/device?user_code=%00%ff%fe",
			"/device?user_code=" + strings.Repeat("%E2%80%AE", 500),
			"/device?user_code=a&user_code=b",
			"/authorize?%zz",
			"/authorize?client_id=%00&redirect_uri=%00",
			"/authorize?client_id=" + strings.Repeat("x", 5000),
			"/signin?next=%00",
			"/static/..%2f..%2fgo.mod",
			"/static/",
		}
		for _, p := range gets {
			r := b.get(p)
			if r.status >= 500 {
				t.Errorf("GET %s: %d:\n%s", p, r.status, r.body)
			}
		}
		posts := []url.Values{
			{},
			{"csrf_token": {csrf}},
			{"csrf_token": {csrf}, "action": {"allow"}, "user_code": {strings.Repeat("Z", 10000)}},
			{"csrf_token": {csrf}, "action": {"allow"}, "client_id": {"x"}, "redirect_uri": {"javascript:alert(1)"}},
		}
		for _, path := range []string{"/device/decide", "/authorize/decide", "/signin", "/signout"} {
			for _, f := range posts {
				r := b.post(path, f)
				if r.status >= 500 {
					t.Errorf("POST %s %v: %d:\n%s", path, f, r.status, r.body)
				}
				if loc := r.location(); loc != "" && !strings.HasPrefix(loc, "/") {
					t.Errorf("POST %s %v redirected off-site to %q", path, f, loc)
				}
			}
		}
		// An oversized body is refused, not read.
		r := b.post("/device/decide", url.Values{"x": {strings.Repeat("a", 100<<10)}})
		if r.status != http.StatusBadRequest {
			t.Errorf("oversized form: %d, want 400", r.status)
		}
	}
}

// A client name is text, never markup.
func TestClientNameEscaped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	_, da := e.startDevice(t, `<script>alert("x")</script>`)
	b := e.browser(t)
	b.signIn("alice", "correct horse")
	r := b.get(devicePath(t, da.VerificationURIComplete))
	if r.status != http.StatusOK || strings.Contains(r.body, "<script>") || !strings.Contains(r.body, "&lt;script&gt;") {
		t.Errorf("client name not escaped:\n%s", r.body)
	}
}

// A store failure is a generic page with the request id; the cause goes
// to the log only.
func TestInternalErrorPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	b := e.browser(t)
	b.signIn("alice", "correct horse")
	e.st.Close()
	r := b.get("/device?user_code=BCDF-GHJK")
	if r.status != http.StatusInternalServerError || !strings.Contains(r.body, "Something went wrong") || !strings.Contains(r.body, "Request id: <code>req-") {
		t.Fatalf("internal error: %d:\n%s", r.status, r.body)
	}
	if strings.Contains(strings.ToLower(r.body), "sql") || strings.Contains(r.body, "closed") {
		t.Errorf("internal error page shows the cause:\n%s", r.body)
	}
	checkSecurityHeaders(t, "internal error", r)
	if !strings.Contains(e.logs.String(), "page failed") {
		t.Errorf("cause not logged:\n%s", e.logs.String())
	}
}
