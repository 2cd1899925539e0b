package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ssooidc/ssooidc/internal/oauth"
)

const (
	registeredCallback = "http://127.0.0.1/oauth/callback"
	cliCallback        = "http://127.0.0.1:54321/oauth/callback"
	cliState           = "0b0f3c8e-5e5f-4a57-9f3e-1c2d3e4f5a6b"
)

// registerPKCE registers a client the way the AWS CLI does for the
// authorization code flow.
func (e *env) registerPKCE(t *testing.T, redirectURIs ...string) oauth.RegisteredClient {
	t.Helper()
	if len(redirectURIs) == 0 {
		redirectURIs = []string{registeredCallback}
	}
	c, err := e.engine.RegisterClient(t.Context(), oauth.RegisterRequest{
		ClientName:   "botocore-client-dev",
		ClientType:   "public",
		GrantTypes:   []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		RedirectURIs: redirectURIs,
		IssuerURL:    startURL,
		Scopes:       []string{"sso:account:access"},
	})
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	return c
}

// cliQuery is the AWS CLI's exact authorize query.
func cliQuery(clientID, redirectURI, challenge string) string {
	return "response_type=code&client_id=" + url.QueryEscape(clientID) +
		"&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&state=" + cliState +
		"&code_challenge_method=S256&scopes=sso%3Aaccount%3Aaccess" +
		"&code_challenge=" + challenge
}

// consent signs in from a signed-out GET /authorize and returns the
// consent page.
func (b *browser) authorizeConsent(query string) response {
	b.t.Helper()
	r := b.get("/authorize?" + query)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/signin?next=") {
		b.t.Fatalf("GET /authorize signed out: %d %q, want 303 to /signin:\n%s", r.status, r.location(), r.body)
	}
	r = b.submitSignIn(b.follow(r), "alice", "correct horse")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/authorize?") {
		b.t.Fatalf("POST /signin: %d %q, want 303 back to /authorize", r.status, r.location())
	}
	r = b.follow(r)
	if r.status != http.StatusOK {
		b.t.Fatalf("consent: %d:\n%s", r.status, r.body)
	}
	return r
}

func decideForm(consent response, action string) url.Values {
	v := url.Values{}
	for k, val := range inputs(consent.body) {
		v.Set(k, val)
	}
	v.Set("action", action)
	return v
}

func TestAuthorizeApprove(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	c := e.registerPKCE(t)
	verifier, challenge := pkce()
	b := e.browser(t)
	r := b.authorizeConsent(cliQuery(c.ClientID, cliCallback, challenge))
	for _, want := range []string{"botocore-client-dev", "sso:account:access", "http://127.0.0.1:54321", "If you did not"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if got := buttons(r.body); strings.Join(got, " ") != "action=allow action=deny" {
		t.Errorf("consent buttons = %v", got)
	}
	if fs := forms(r.body); len(fs) != 1 || fs[0]["action"] != "/authorize/decide" || fs[0]["method"] != "post" {
		t.Errorf("consent forms = %v", fs)
	}
	// The form's redirect to the client must be allowed by form-action.
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:54321;") {
		t.Errorf("consent CSP = %q, want the client's origin in form-action", csp)
	}

	r = b.post("/authorize/decide", decideForm(r, "allow"))
	if r.status != http.StatusSeeOther {
		t.Fatalf("allow: %d:\n%s", r.status, r.body)
	}
	loc, err := url.Parse(r.location())
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != cliCallback || q.Get("state") != cliState || q.Get("code") == "" || q.Has("error") {
		t.Fatalf("redirect = %q, want %s?code=…&state=%s", r.location(), cliCallback, cliState)
	}
	tok, err := e.engine.Token(t.Context(), oauth.TokenRequest{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, GrantType: oauth.GrantAuthorizationCode,
		Code: q.Get("code"), RedirectURI: cliCallback, CodeVerifier: verifier,
	})
	if err != nil {
		t.Fatalf("redeem code: %v", err)
	}
	if tok.AccessToken == "" || strings.Join(tok.Scopes, " ") != "sso:account:access" {
		t.Errorf("tokens = %+v", tok)
	}

	// Signed in, the next authorization skips the password; the standard
	// `scope` parameter works too.
	_, challenge2 := pkce()
	query := strings.Replace(cliQuery(c.ClientID, "http://127.0.0.1:60000/oauth/callback", challenge2), "scopes=", "scope=", 1)
	r = b.get("/authorize?" + query)
	if r.status != http.StatusOK || !strings.Contains(r.body, "sso:account:access") {
		t.Errorf("second authorization while signed in: %d %q", r.status, r.location())
	}
}

func TestAuthorizeDeny(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	c := e.registerPKCE(t)
	_, challenge := pkce()
	b := e.browser(t)
	r := b.authorizeConsent(cliQuery(c.ClientID, cliCallback, challenge))
	r = b.post("/authorize/decide", decideForm(r, "deny"))
	want := cliCallback + "?error=access_denied&state=" + cliState
	if r.status != http.StatusSeeOther || r.location() != want {
		t.Errorf("deny: %d %q, want 303 %q", r.status, r.location(), want)
	}
}

// Errors that make the redirect unsafe are shown, never redirected
// (RFC 6749 §4.1.2.1).
func TestAuthorizeErrorPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	c := e.registerPKCE(t)
	_, challenge := pkce()
	tests := []struct{ name, query string }{
		{"unknown client", cliQuery("no-such-client", cliCallback, challenge)},
		{"unregistered redirect URI", cliQuery(c.ClientID, "https://evil.example/oauth/callback", challenge)},
		{"other loopback path", cliQuery(c.ClientID, "http://127.0.0.1:54321/elsewhere", challenge)},
		{"other loopback host", cliQuery(c.ClientID, "http://localhost:54321/oauth/callback", challenge)},
		{"missing redirect URI", "response_type=code&client_id=" + c.ClientID + "&state=x"},
		{"missing client", "response_type=code&redirect_uri=" + url.QueryEscape(cliCallback)},
		{"repeated redirect URI", cliQuery(c.ClientID, cliCallback, challenge) + "&redirect_uri=" + url.QueryEscape("https://evil.example/")},
		{"nothing", ""},
	}
	for _, signedIn := range []bool{false, true} {
		b := e.browser(t)
		if signedIn {
			b.signIn("alice", "correct horse")
		}
		for _, tc := range tests {
			r := b.get("/authorize?" + tc.query)
			if r.status != http.StatusBadRequest || r.location() != "" || !strings.Contains(r.body, "This sign-in link is not valid") {
				t.Errorf("%s (signed in %v): %d %q, want a 400 page and no redirect:\n%s", tc.name, signedIn, r.status, r.location(), r.body)
			}
			checkSecurityHeaders(t, tc.name, r)
		}
		// The decision endpoint re-validates what the form carries.
		if signedIn {
			csrf := e.dir.CSRFToken(b.cookie("ssooidc_session"))
			form, _ := url.ParseQuery(cliQuery(c.ClientID, "https://evil.example/cb", challenge))
			form.Set("csrf_token", csrf)
			form.Set("action", "allow")
			if r := b.post("/authorize/decide", form); r.status != http.StatusBadRequest || r.location() != "" {
				t.Errorf("decide with a tampered redirect URI: %d %q", r.status, r.location())
			}
		}
	}
}

// Other errors go back to the client with error, error_description and
// state; no sign-in is needed to get them.
func TestAuthorizeErrorRedirect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.registerPKCE(t, registeredCallback, "https://app.example.com/cb?tenant=7")
	device := e.registerDeviceOnlyWithRedirect(t)
	_, challenge := pkce()
	base := cliQuery(c.ClientID, cliCallback, challenge)
	tests := []struct {
		name, query, wantError, wantPrefix string
	}{
		{"plain PKCE", strings.Replace(base, "code_challenge_method=S256", "code_challenge_method=plain", 1), "invalid_request", cliCallback + "?"},
		{"no PKCE", "response_type=code&client_id=" + c.ClientID + "&redirect_uri=" + url.QueryEscape(cliCallback) + "&state=" + cliState, "invalid_request", cliCallback + "?"},
		{"short challenge", strings.Replace(base, "code_challenge="+challenge, "code_challenge=abc", 1), "invalid_request", cliCallback + "?"},
		{"implicit flow", strings.Replace(base, "response_type=code", "response_type=token", 1), "unsupported_response_type", cliCallback + "?"},
		{"no response type", strings.Replace(base, "response_type=code&", "", 1), "unsupported_response_type", cliCallback + "?"},
		{"unregistered scope", strings.Replace(base, "scopes=sso%3Aaccount%3Aaccess", "scopes=sso%3Aaccount%3Aaccess%20admin", 1), "invalid_scope", cliCallback + "?"},
		{"repeated state", base + "&state=other", "invalid_request", cliCallback + "?"},
		{"client not registered for the grant", cliQuery(device.ClientID, cliCallback, challenge), "unauthorized_client", cliCallback + "?"},
		{"query kept", strings.Replace(cliQuery(c.ClientID, "https://app.example.com/cb?tenant=7", challenge), "code_challenge_method=S256", "code_challenge_method=plain", 1), "invalid_request", "https://app.example.com/cb?tenant=7&"},
	}
	b := e.browser(t)
	for _, tc := range tests {
		r := b.get("/authorize?" + tc.query)
		if r.status != http.StatusSeeOther && r.status != http.StatusFound {
			t.Errorf("%s: status %d, want a redirect:\n%s", tc.name, r.status, r.body)
			continue
		}
		loc := r.location()
		if !strings.HasPrefix(loc, tc.wantPrefix) {
			t.Errorf("%s: Location %q, want prefix %q", tc.name, loc, tc.wantPrefix)
			continue
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("error") != tc.wantError || q.Get("error_description") == "" || q.Has("code") {
			t.Errorf("%s: query %v, want error=%s with a description", tc.name, q, tc.wantError)
		}
		if q.Get("state") != cliState {
			t.Errorf("%s: state %q, want %q", tc.name, q.Get("state"), cliState)
		}
	}
}

// registerDeviceOnlyWithRedirect registers a client that may not use the
// authorization code grant but has a valid redirect URI.
func (e *env) registerDeviceOnlyWithRedirect(t *testing.T) oauth.RegisteredClient {
	t.Helper()
	c, err := e.engine.RegisterClient(t.Context(), oauth.RegisterRequest{
		ClientName:   "device-only",
		ClientType:   "public",
		GrantTypes:   []string{oauth.GrantDeviceCode},
		RedirectURIs: []string{registeredCallback},
	})
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	return c
}
