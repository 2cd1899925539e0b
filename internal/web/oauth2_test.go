package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOAuth2Authorize: /oauth2/authorize is the same endpoint as /authorize,
// by GET, and by a form POST sent from another site (OpenID Connect Core
// §3.1.2.1), whose query is not read.
func TestOAuth2Authorize(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "alice", "correct horse")
	c := e.registerPKCE(t)
	_, challenge := pkce()
	b := e.browser(t)
	b.signIn("alice", "correct horse")

	r := b.get("/oauth2/authorize?" + cliQuery(c.ClientID, cliCallback, challenge))
	if r.status != http.StatusOK || !strings.Contains(r.body, "botocore-client-dev") {
		t.Fatalf("GET /oauth2/authorize: %d:\n%s", r.status, r.body)
	}

	form, err := url.ParseQuery(cliQuery(c.ClientID, cliCallback, challenge))
	if err != nil {
		t.Fatal(err)
	}
	r = b.post("/oauth2/authorize?client_id=ignored", form, "Origin", "https://rp.example.test", "Sec-Fetch-Site", "cross-site")
	if r.status != http.StatusOK || !strings.Contains(r.body, "botocore-client-dev") {
		t.Fatalf("cross-site POST /oauth2/authorize: %d:\n%s", r.status, r.body)
	}
	if fs := forms(r.body); len(fs) != 1 || fs[0]["action"] != "/authorize/decide" {
		t.Errorf("consent forms = %v", fs)
	}

	// Errors follow the same rules: an unsupported response type goes back
	// to the client.
	form.Set("response_type", "token")
	r = b.post("/oauth2/authorize", form)
	loc, _ := url.Parse(r.location())
	if r.status != http.StatusSeeOther || loc.Query().Get("error") != "unsupported_response_type" {
		t.Errorf("response_type=token: %d %q, want a redirect with unsupported_response_type", r.status, r.location())
	}
}
