package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// devicePath is the path of the complete verification URI.
func devicePath(t *testing.T, verificationURIComplete string) string {
	t.Helper()
	u, err := url.Parse(verificationURIComplete)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func TestDeviceApprove(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	c, da := e.startDevice(t, "botocore-client-dev")
	if _, err := e.poll(t, c, da); kindOf(err) != "authorization_pending" {
		t.Fatalf("poll before approval: %v, want authorization_pending", err)
	}

	b := e.browser(t)
	r := b.get(devicePath(t, da.VerificationURIComplete))
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/signin?next=") {
		t.Fatalf("GET verification URI signed out: %d %q, want 303 to /signin", r.status, r.location())
	}
	r = b.follow(r)
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="password"`) || !strings.Contains(r.body, `name="username"`) {
		t.Fatalf("sign-in page: status %d:\n%s", r.status, r.body)
	}
	if got := inputs(r.body)["next"]; got != "/device?user_code="+url.QueryEscape(da.UserCode) {
		t.Errorf("sign-in form next = %q", got)
	}
	r = b.submitSignIn(r, "alice", "correct horse")
	if r.status != http.StatusSeeOther || r.location() != "/device?user_code="+url.QueryEscape(da.UserCode) {
		t.Fatalf("POST /signin: %d %q, want 303 back to the device page", r.status, r.location())
	}
	r = b.follow(r)
	if r.status != http.StatusOK {
		t.Fatalf("consent page: status %d:\n%s", r.status, r.body)
	}
	for _, want := range []string{
		"botocore-client-dev",
		da.UserCode,
		"203.0.113.7",
		"aws-cli/2.31.0 md/sso#device",
		"2026-03-01 09:00 UTC (less than a minute ago)",
		"sso:account:access",
		"If you did not",
		"Signed in as alice",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if len(da.UserCode) != 9 || da.UserCode[4] != '-' {
		t.Fatalf("engine user code %q is not XXXX-XXXX", da.UserCode)
	}
	if diff := cmp.Diff([]string{"action=allow", "action=deny"}, buttons(r.body)); diff != "" {
		t.Errorf("consent buttons (-want +got):\n%s", diff)
	}
	fs := forms(r.body)
	if len(fs) != 1 || fs[0]["action"] != "/device/decide" || fs[0]["method"] != "post" {
		t.Errorf("consent forms = %v", fs)
	}
	in := inputs(r.body)
	if in["user_code"] != da.UserCode || in["csrf_token"] == "" {
		t.Errorf("consent form inputs = %v", in)
	}

	r = b.post("/device/decide", url.Values{"user_code": {in["user_code"]}, "csrf_token": {in["csrf_token"]}, "action": {"allow"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "You may close this window") || !strings.Contains(r.body, "Request approved") {
		t.Fatalf("approve: status %d:\n%s", r.status, r.body)
	}
	tok, err := e.poll(t, c, da)
	if err != nil {
		t.Fatalf("poll after approval: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Errorf("tokens = %+v", tok)
	}
	// Approving again is the same bad-code page: the grant is decided.
	r = b.post("/device/decide", url.Values{"user_code": {in["user_code"]}, "csrf_token": {in["csrf_token"]}, "action": {"allow"}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "not valid or has expired") {
		t.Errorf("second approval: status %d:\n%s", r.status, r.body)
	}
	code := strings.ReplaceAll(da.UserCode, "-", "")
	if logs := e.logs.String(); strings.Contains(logs, code) || strings.Contains(logs, da.UserCode) || strings.Contains(logs, "correct horse") {
		t.Errorf("logs contain the user code or the password:\n%s", logs)
	}
}

func TestDeviceDeny(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	c, da := e.startDevice(t, "cli")
	b := e.browser(t)
	b.signIn("alice", "correct horse")
	r := b.get(devicePath(t, da.VerificationURIComplete))
	if r.status != http.StatusOK {
		t.Fatalf("consent: %d", r.status)
	}
	in := inputs(r.body)
	r = b.post("/device/decide", url.Values{"user_code": {in["user_code"]}, "csrf_token": {in["csrf_token"]}, "action": {"deny"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "Request denied") || !strings.Contains(r.body, "You may close this window") {
		t.Fatalf("deny: status %d:\n%s", r.status, r.body)
	}
	if _, err := e.poll(t, c, da); kindOf(err) != "access_denied" {
		t.Errorf("poll after denial: %v, want access_denied", err)
	}
}

// The code can be typed in any case, with or without the dash, through
// the form of GET /device.
func TestDeviceTypedCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	_, da := e.startDevice(t, "cli")
	b := e.browser(t)
	r := b.get("/device")
	if r.status != http.StatusOK {
		t.Fatalf("GET /device: %d", r.status)
	}
	fs := forms(r.body)
	if len(fs) != 1 || fs[0]["action"] != "/device" || fs[0]["method"] != "get" {
		t.Errorf("code form = %v", fs)
	}
	if _, ok := inputs(r.body)["user_code"]; !ok {
		t.Errorf("GET /device has no user_code input:\n%s", r.body)
	}
	b.signIn("alice", "correct horse")
	typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))
	r = b.get("/device?user_code=" + url.QueryEscape(" "+typed+" "))
	if r.status != http.StatusOK || !strings.Contains(r.body, da.UserCode) {
		t.Errorf("typed %q: status %d:\n%s", typed, r.status, r.body)
	}
	if got := inputs(r.body)["user_code"]; got != da.UserCode {
		t.Errorf("consent form carries %q, want %q", got, da.UserCode)
	}
}

// A browser session skips the password for the next approval.
func TestSessionReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	b := e.browser(t)
	b.signIn("alice", "correct horse")
	for i := range 2 {
		c, da := e.startDevice(t, "cli")
		r := b.get(devicePath(t, da.VerificationURIComplete))
		if r.status != http.StatusOK {
			t.Fatalf("grant %d: GET consent = %d %q, want the page without signing in", i, r.status, r.location())
		}
		in := inputs(r.body)
		if _, ok := in["password"]; ok {
			t.Fatalf("grant %d: asked for the password again", i)
		}
		r = b.post("/device/decide", url.Values{"user_code": {in["user_code"]}, "csrf_token": {in["csrf_token"]}, "action": {"allow"}})
		if r.status != http.StatusOK {
			t.Fatalf("grant %d: decide = %d", i, r.status)
		}
		if _, err := e.poll(t, c, da); err != nil {
			t.Errorf("grant %d: poll: %v", i, err)
		}
		e.clock.Advance(time.Hour)
	}
	// Past the session lifetime (8 h by default) the password is needed.
	e.clock.Advance(7 * time.Hour)
	_, da := e.startDevice(t, "cli")
	if r := b.get(devicePath(t, da.VerificationURIComplete)); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/signin") {
		t.Errorf("after the session lifetime: %d %q, want a redirect to sign in", r.status, r.location())
	}
}

// Malformed, unknown, expired and already-decided codes get one page.
func TestBadCodePageIdentical(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	_, expired := e.startDevice(t, "cli")
	e.clock.Advance(601 * time.Second)
	_, decided := e.startDevice(t, "cli")
	if err := e.engine.DecideDevice(t.Context(), decided.UserCode, "someone", false); err != nil {
		t.Fatal(err)
	}
	_, live := e.startDevice(t, "cli")
	unknown := "BCDF-GHJK"
	if unknown == live.UserCode || unknown == expired.UserCode || unknown == decided.UserCode {
		unknown = "ZZZZ-ZZZZ"
	}
	b := e.browser(t)
	b.signIn("alice", "correct horse")

	codes := map[string]string{
		"malformed":     "hello",
		"wrong letters": "AAAA-EEEE",
		"too long":      strings.Repeat("B", 200),
		"script":        "<script>alert(1)</script>",
		"unknown":       unknown,
		"expired":       expired.UserCode,
		"decided":       decided.UserCode,
	}
	var first response
	for name, code := range codes {
		r := b.get("/device?user_code=" + url.QueryEscape(code))
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "That code is not valid or has expired") {
			t.Errorf("%s: status %d:\n%s", name, r.status, r.body)
			continue
		}
		if first.body == "" {
			first = r
		} else if diff := cmp.Diff(first.body, r.body); diff != "" {
			t.Errorf("%s: bad-code page differs (-first +this):\n%s", name, diff)
		}
	}
	// The decision endpoint answers with the same page.
	csrf := e.dir.CSRFToken(b.cookie("ssooidc_session"))
	for name, code := range codes {
		r := b.post("/device/decide", url.Values{"user_code": {code}, "csrf_token": {csrf}, "action": {"allow"}})
		if r.status != http.StatusBadRequest || r.body != first.body {
			t.Errorf("decide %s: status %d, body differs from the GET page:\n%s", name, r.status, r.body)
		}
	}
	if !strings.Contains(e.logs.String(), "device code not accepted") {
		t.Errorf("bad code attempts are not logged")
	}
	if logs := e.logs.String(); strings.Contains(logs, "alert(1)") || strings.Contains(logs, unknown) {
		t.Errorf("logs contain a typed code:\n%s", logs)
	}
	// The live grant is unaffected.
	if r := b.get(devicePath(t, live.VerificationURIComplete)); r.status != http.StatusOK {
		t.Errorf("live code: %d", r.status)
	}
}
