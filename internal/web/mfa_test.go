package web

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"
	"github.com/ssooidc/ssooidc/internal/directory"
	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/ratelimit"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

// newSecuredEnv is newEnv with the directory's and the engine's defences
// set by the adjust functions (nil: off).
func newSecuredEnv(t *testing.T, dirCfg func(*directory.Config), limits func(*oauth.Limits)) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "web.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.New([]byte(strings.Repeat("w", secret.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, keys: keys, clock: clocktest.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := http.NewServeMux()
	var n atomic.Int64
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip := r.Header.Get("X-Test-Client-IP"); ip != "" {
			host = ip // the server's middleware decides this in production
		}
		id := fmt.Sprintf("req-%04d", n.Add(1))
		mux.ServeHTTP(w, r.WithContext(reqinfo.With(r.Context(), reqinfo.Info{ID: id, ClientIP: host})))
	}))
	t.Cleanup(e.srv.Close)
	limiter := ratelimit.New(st, keys, e.clock.Now)
	l := oauth.Limits{Limiter: limiter, Grants: st}
	if limits != nil {
		limits(&l)
	}
	e.engine = oauth.New(st, keys, oauth.Config{Issuer: e.srv.URL, StartURLs: []string{startURL}, Limits: l}, e.clock.Now, log)
	dc := directory.Config{Limiter: limiter}
	if dirCfg != nil {
		dirCfg(&dc)
	}
	e.dir = directory.New(st, keys, dc, e.clock.Now, log)
	New(e.engine, e.dir, Config{Issuer: e.srv.URL, Now: e.clock.Now, Log: log}).Register(mux)
	return e
}

// totpAt computes an RFC 6238 code (SHA-1, 6 digits, 30 s), as an
// authenticator app does from the key shown on the page.
func totpAt(t *testing.T, key string, now time.Time) string {
	t.Helper()
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(key, " ", ""))
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	m := hmac.New(sha1.New, seed)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(now.Unix()/30))
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:])&0x7fffffff)%1000000)
}

var (
	keyRE   = regexp.MustCompile(`<code class="secret">([A-Z2-7 ]+)</code>`)
	qrRE    = regexp.MustCompile(`<img src="data:image/png;base64,(?:[A-Za-z0-9/=]|&#43;)+" alt="QR code`)
	codesRE = regexp.MustCompile(`<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>`)
)

// enrolIn sets up TOTP from the /mfa page r and returns the key and the
// recovery codes.
func (b *browser) enrolIn(e *env, r response) (string, []string) {
	b.t.Helper()
	if r.status != http.StatusOK || !qrRE.MatchString(r.body) {
		b.t.Fatalf("enrolment page: %d, no QR code:\n%s", r.status, r.body)
	}
	m := keyRE.FindStringSubmatch(r.body)
	if m == nil {
		b.t.Fatalf("enrolment page shows no key:\n%s", r.body)
	}
	in := inputs(r.body)
	wrong := b.post("/mfa", url.Values{"csrf_token": {in["csrf_token"]}, "next": {in["next"]}, "code": {"000000"}})
	if wrong.status != http.StatusBadRequest || !strings.Contains(wrong.body, "not right") {
		b.t.Errorf("wrong first code: %d:\n%s", wrong.status, wrong.body)
	}
	done := b.post("/mfa", url.Values{"csrf_token": {in["csrf_token"]}, "next": {in["next"]}, "code": {totpAt(b.t, m[1], e.clock.Now())}})
	if done.status != http.StatusOK {
		b.t.Fatalf("confirming: %d:\n%s", done.status, done.body)
	}
	var codes []string
	for _, c := range codesRE.FindAllStringSubmatch(done.body, -1) {
		codes = append(codes, c[1])
	}
	if len(codes) != 10 {
		b.t.Fatalf("%d recovery codes shown, want 10:\n%s", len(codes), done.body)
	}
	checkSecurityHeaders(b.t, "recovery codes", done)
	return m[1], codes
}

func TestMFAEnrolAndSignIn(t *testing.T) {
	t.Parallel()
	e := newSecuredEnv(t, nil, nil)
	e.addUser(t, "alice", "correct horse")
	b := e.browser(t)
	b.signIn("alice", "correct horse")
	page := b.get("/mfa")
	checkSecurityHeaders(t, "enrolment", page)
	if !strings.Contains(page.body, `img-src 'self' data:`) && !strings.Contains(page.header.Get("Content-Security-Policy"), "img-src 'self' data:") {
		t.Error("CSP does not allow the QR code's data: image")
	}
	key, codes := b.enrolIn(e, page)
	status := b.get("/mfa")
	if !strings.Contains(status.body, "You have 10 unused recovery codes") {
		t.Errorf("status page:\n%s", status.body)
	}
	checkSecurityHeaders(t, "second factor status", status)

	// A new browser: password, then the code.
	e.clock.Advance(30 * time.Second)
	b2 := e.browser(t)
	r := b2.submitSignIn(b2.get("/signin?next=/device"), "alice", "correct horse")
	if r.status != http.StatusSeeOther || r.location() != "/signin/mfa?next=%2Fdevice" {
		t.Fatalf("sign-in of an enrolled user: %d → %q", r.status, r.location())
	}
	if b2.cookie("ssooidc_session") != "" {
		t.Fatal("a session before the second factor")
	}
	form := b2.get(r.location())
	checkSecurityHeaders(t, "second factor form", form)
	in := inputs(form.body)
	code := totpAt(t, key, e.clock.Now())
	r = b2.post("/signin/mfa", url.Values{"csrf_token": {in["csrf_token"]}, "next": {in["next"]}, "code": {code}})
	if r.status != http.StatusSeeOther || r.location() != "/device" || b2.cookie("ssooidc_session") == "" {
		t.Fatalf("second factor: %d → %q, session %q", r.status, r.location(), b2.cookie("ssooidc_session"))
	}
	if b2.cookie("ssooidc_pending") != "" || b2.cookie("ssooidc_signin") != "" {
		t.Error("sign-in cookies left behind")
	}

	// The same code in a third browser: refused (replay).
	b3 := e.browser(t)
	r = b3.submitSignIn(b3.get("/signin"), "alice", "correct horse")
	in = inputs(b3.get(r.location()).body)
	r = b3.post("/signin/mfa", url.Values{"csrf_token": {in["csrf_token"]}, "next": {in["next"]}, "code": {code}})
	if r.status != http.StatusBadRequest || b3.cookie("ssooidc_session") != "" {
		t.Fatalf("replayed code: %d, session %q", r.status, b3.cookie("ssooidc_session"))
	}
	// A recovery code works.
	r = b3.post("/signin/mfa", url.Values{"csrf_token": {in["csrf_token"]}, "next": {in["next"]}, "code": {codes[0]}})
	if r.status != http.StatusSeeOther || b3.cookie("ssooidc_session") == "" {
		t.Fatalf("recovery code: %d", r.status)
	}
}

func TestMFAPendingIsBoundToTheBrowser(t *testing.T) {
	t.Parallel()
	e := newSecuredEnv(t, func(c *directory.Config) { c.MFARequired = true }, nil)
	e.addUser(t, "bob", "bob's password")
	b := e.browser(t)
	r := b.submitSignIn(b.get("/signin?next=/device"), "bob", "bob's password")
	if r.status != http.StatusSeeOther || r.location() != "/mfa?next=%2Fdevice" {
		t.Fatalf("sign-in with mfa_required: %d → %q", r.status, r.location())
	}
	if b.cookie("ssooidc_session") != "" {
		t.Fatal("a session before enrolment")
	}
	// The pending cookie alone, in another browser, is worth nothing.
	thief := e.browser(t)
	u, _ := url.Parse(e.srv.URL)
	thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: "ssooidc_pending", Value: b.cookie("ssooidc_pending")}})
	if r := thief.get("/mfa"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/signin") {
		t.Errorf("stolen pending cookie: %d → %q", r.status, r.location())
	}
	// Nor does it reach the pages behind a session.
	if r := b.get("/device?user_code=BCDF-GHJK"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/signin") {
		t.Errorf("device page before enrolment: %d → %q", r.status, r.location())
	}
	page := b.get("/mfa?next=/device")
	if !strings.Contains(page.body, "finish signing in") {
		t.Errorf("enrolment page does not say it finishes the sign-in:\n%s", page.body)
	}
	b.enrolIn(e, page)
	if b.cookie("ssooidc_session") == "" {
		t.Fatal("no session after enrolment")
	}
	if r := b.get("/device"); r.status != http.StatusOK || !strings.Contains(r.body, "Signed in as") {
		t.Errorf("device page after enrolment: %d", r.status)
	}
}

func TestMFACrossSitePostsRefused(t *testing.T) {
	t.Parallel()
	e := newSecuredEnv(t, nil, nil)
	e.addUser(t, "carol", "carol's password")
	b := e.browser(t)
	b.signIn("carol", "carol's password")
	csrf := e.dir.CSRFToken(b.cookie("ssooidc_session"))
	for _, path := range []string{"/mfa", "/signin/mfa"} {
		r := b.post(path, url.Values{"csrf_token": {csrf}, "code": {"123456"}}, "Sec-Fetch-Site", "cross-site")
		if r.status != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d, want 403", path, r.status)
		}
		checkSecurityHeaders(t, "cross-site "+path, r)
	}
	if r := b.post("/mfa", url.Values{"csrf_token": {"forged"}, "code": {"123456"}}); r.status != http.StatusForbidden {
		t.Errorf("POST /mfa with a forged token: %d, want 403", r.status)
	}
	// Signed out, /mfa asks for a sign-in first.
	anon := e.browser(t)
	if r := anon.get("/mfa"); r.status != http.StatusSeeOther || r.location() != "/signin?next=%2Fmfa%3Fnext%3D%252Fdevice" {
		t.Errorf("GET /mfa signed out: %d → %q", r.status, r.location())
	}
	if r := anon.get("/signin/mfa"); r.status != http.StatusSeeOther {
		t.Errorf("GET /signin/mfa without a pending sign-in: %d", r.status)
	}
}

func TestSignInThrottledPage(t *testing.T) {
	t.Parallel()
	e := newSecuredEnv(t, func(c *directory.Config) {
		c.SignInPerAccount = ratelimit.Rule{Limit: 2}
	}, nil)
	e.addUser(t, "dave", "dave's password")
	for _, name := range []string{"dave", "nobody"} {
		b := e.browser(t)
		var bodies []string
		for range 3 {
			r := b.submitSignIn(b.get("/signin"), name, "wrong password")
			bodies = append(bodies, r.body)
		}
		if !strings.Contains(bodies[0], "Wrong user name or password.") || !strings.Contains(bodies[2], "Too many sign-in attempts. Wait 1 minute") {
			t.Errorf("%s: pages:\n%s", name, strings.Join(bodies, "\n----\n"))
		}
	}
	b := e.browser(t)
	if r := b.submitSignIn(b.get("/signin"), "dave", "dave's password"); r.status != http.StatusTooManyRequests {
		t.Errorf("right password while throttled: %d, want 429", r.status)
	}
	e.clock.Advance(time.Minute)
	b.signIn("dave", "dave's password")
}

func TestCodeGuessingPage(t *testing.T) {
	t.Parallel()
	e := newSecuredEnv(t, nil, func(l *oauth.Limits) {
		l.CodePerIP = ratelimit.Rule{Limit: 3}
	})
	e.addUser(t, "erin", "erin's password")
	_, da := e.startDevice(t, "cli")
	attacker := e.browser(t)
	attacker.signIn("erin", "erin's password")
	for range 3 {
		if r := attacker.get("/device?user_code=BCDF-GHJK"); r.status != http.StatusBadRequest {
			t.Fatalf("wrong code: %d", r.status)
		}
	}
	r := attacker.get(devicePath(t, da.VerificationURIComplete))
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many codes were tried") || strings.Contains(r.body, da.UserCode) {
		t.Fatalf("code after the limit: %d:\n%s", r.status, r.body)
	}
	checkSecurityHeaders(t, "too many codes", r)
	csrf := e.dir.CSRFToken(attacker.cookie("ssooidc_session"))
	if r := attacker.post("/device/decide", url.Values{"csrf_token": {csrf}, "user_code": {da.UserCode}, "action": {"allow"}}); r.status != http.StatusTooManyRequests {
		t.Errorf("approval after the limit: %d, want 429", r.status)
	}
	// Someone else, elsewhere, is not affected.
	req, _ := http.NewRequest("GET", e.srv.URL+devicePath(t, da.VerificationURIComplete), nil)
	req.Header.Set("X-Test-Client-IP", "192.0.2.50")
	if r := attacker.do(req); r.status != http.StatusOK {
		t.Errorf("the code from another address: %d", r.status)
	}
}
