package oauthapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/oauth"
)

// Golden wire tests: exact status, headers and body of every endpoint's
// success and of every RFC error.

// Headers of every token-endpoint-style answer (RFC 6749 §5.1, §5.2).
var noStoreJSON = map[string]string{
	"Content-Type":  "application/json",
	"Cache-Control": "no-store",
	"Pragma":        "no-cache",
}

func with(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// wantHeaders checks that the answer has exactly these headers.
func wantHeaders(t *testing.T, rec *httptest.ResponseRecorder, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for k, v := range rec.Header() {
		got[k] = strings.Join(v, "\n")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
}

// wantError checks an error answer completely.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, header map[string]string, code, description string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d", rec.Code, status)
	}
	wantHeaders(t, rec, header)
	if diff := cmp.Diff(errBody(code, description), rec.Body.String()); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
}

func errBody(code, description string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]string{"error": code, "error_description": description})
	return strings.TrimSuffix(buf.String(), "\n")
}

// wantJSON checks a 200 answer: headers, and the body as JSON where each
// member named in random must match its pattern and then compares as
// "<member>". Numbers compare as their text.
func wantJSON(t *testing.T, rec *httptest.ResponseRecorder, header map[string]string, random map[string]*regexp.Regexp, want map[string]any) map[string]string {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	wantHeaders(t, rec, header)
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.UseNumber()
	var got map[string]any
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	values := map[string]string{}
	for name, re := range random {
		s, ok := got[name].(string)
		if !ok || !re.MatchString(s) {
			t.Errorf("%s = %#v, want a string matching %s", name, got[name], re)
			continue
		}
		values[name] = s
		got[name] = "<" + name + ">"
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s\nbody: %s", diff, rec.Body)
	}
	return values
}

func num(n int64) json.Number { return json.Number(fmt.Sprint(n)) }

var (
	reDeviceCode   = regexp.MustCompile(`^sso_dc_[A-Za-z0-9_-]{54}$`)
	reUserCode     = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)
	reVerification = regexp.MustCompile(`^http://127\.0\.0\.1:8080/device\?user_code=[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)
	reAccessToken  = regexp.MustCompile(`^sso_at_[A-Za-z0-9_-]{54}$`)
	reRefreshToken = regexp.MustCompile(`^sso_rt_[A-Za-z0-9_-]{54}$`)
	reJWT          = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
	reB64          = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

func TestDiscoveryWire(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rec := h.do(request{method: http.MethodGet, path: PathDiscovery})
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	wantHeaders(t, rec, map[string]string{
		"Content-Type":                "application/json",
		"Cache-Control":               "public, max-age=3600",
		"Access-Control-Allow-Origin": "*",
	})
	want := `{"issuer":"http://127.0.0.1:8080",` +
		`"authorization_endpoint":"http://127.0.0.1:8080/oauth2/authorize",` +
		`"device_authorization_endpoint":"http://127.0.0.1:8080/oauth2/device_authorization",` +
		`"token_endpoint":"http://127.0.0.1:8080/oauth2/token",` +
		`"userinfo_endpoint":"http://127.0.0.1:8080/oauth2/userinfo",` +
		`"jwks_uri":"http://127.0.0.1:8080/oauth2/jwks",` +
		`"revocation_endpoint":"http://127.0.0.1:8080/oauth2/revoke",` +
		`"introspection_endpoint":"http://127.0.0.1:8080/oauth2/introspect",` +
		`"scopes_supported":["openid","email","profile"],` +
		`"response_types_supported":["code"],` +
		`"response_modes_supported":["query"],` +
		`"grant_types_supported":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:device_code"],` +
		`"subject_types_supported":["public"],` +
		`"id_token_signing_alg_values_supported":["RS256","ES256"],` +
		`"token_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post","none"],` +
		`"revocation_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post","none"],` +
		`"introspection_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"],` +
		`"code_challenge_methods_supported":["S256"],` +
		`"claims_supported":["iss","sub","aud","exp","iat","auth_time","nonce","email","name","preferred_username"]}`
	if diff := cmp.Diff(want, rec.Body.String()); diff != "" {
		t.Errorf("discovery mismatch (-want +got):\n%s", diff)
	}
}

func TestJWKSWire(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rec := h.do(request{method: http.MethodGet, path: PathJWKS})
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
	}
	wantHeaders(t, rec, map[string]string{
		"Content-Type":                "application/json",
		"Cache-Control":               "public, max-age=300",
		"Access-Control-Allow-Origin": "*",
	})
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("keys = %d, want 1: %s", len(set.Keys), rec.Body)
	}
	k := set.Keys[0]
	// An EC P-256 public key: exactly these members, coordinates of 32
	// bytes; no private member (d).
	if got, want := slices.Sorted(maps.Keys(k)), []string{"alg", "crv", "kid", "kty", "use", "x", "y"}; !slices.Equal(got, want) {
		t.Errorf("JWK members = %v, want %v", got, want)
	}
	for name, want := range map[string]string{"alg": "ES256", "crv": "P-256", "kty": "EC", "use": "sig"} {
		if k[name] != want {
			t.Errorf("%s = %v, want %s", name, k[name], want)
		}
	}
	for _, c := range []string{"x", "y"} {
		if s, _ := k[c].(string); len(s) != 43 || !reB64.MatchString(s) {
			t.Errorf("%s = %v, want 43 base64url characters", c, k[c])
		}
	}
	if s, _ := k["kid"].(string); len(s) != 43 || !reB64.MatchString(s) {
		t.Errorf("kid = %v, want a SHA-256 JWK thumbprint", k["kid"])
	}
}

func TestDeviceFlowWire(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.awsClient()
	rec := h.do(request{path: PathDeviceAuthorization, form: "client_id=" + c.id + "&scope=openid+email"})
	got := wantJSON(t, rec, noStoreJSON, map[string]*regexp.Regexp{
		"device_code": reDeviceCode, "user_code": reUserCode, "verification_uri_complete": reVerification,
	}, map[string]any{
		"device_code":               "<device_code>",
		"user_code":                 "<user_code>",
		"verification_uri":          "http://127.0.0.1:8080/device",
		"verification_uri_complete": "<verification_uri_complete>",
		"expires_in":                num(600),
		"interval":                  num(1),
	})
	d := deviceAuth{DeviceCode: got["device_code"], UserCode: got["user_code"]}

	// x/oauth2's auth-style probe: Basic first (a public client: empty
	// password), then the body; two polls at once are within the burst.
	for _, q := range []request{
		{path: PathToken, form: pollForm(c, d), header: testClient{c.id, ""}.basic()},
		{path: PathToken, form: pollForm(c, d)},
	} {
		wantError(t, h.do(q), 400, noStoreJSON, "authorization_pending", "Authorization is still pending.")
	}
	h.clock.Advance(time.Second)
	h.decide(d, true)
	h.clock.Advance(time.Second)
	tok := wantJSON(t, h.do(request{path: PathToken, form: pollForm(c, d)}), noStoreJSON, map[string]*regexp.Regexp{
		"access_token": reAccessToken, "refresh_token": reRefreshToken, "id_token": reJWT,
	}, map[string]any{
		"access_token":  "<access_token>",
		"token_type":    "Bearer",
		"expires_in":    num(3600),
		"refresh_token": "<refresh_token>",
		"scope":         "openid email",
		"id_token":      "<id_token>",
	})
	now := h.clock.Now().Unix()
	if diff := cmp.Diff(map[string]any{
		"iss": testIssuer, "sub": "u1", "aud": c.id, "exp": num(now + 3600), "iat": num(now),
		"auth_time": num(now - 1), "email": "alice@example.test",
	}, h.claims(tok["id_token"])); diff != "" {
		t.Errorf("ID token claims mismatch (-want +got):\n%s", diff)
	}
	wantError(t, h.do(request{path: PathToken, form: pollForm(c, d)}), 400, noStoreJSON, "invalid_grant", "The device code has already been used.")

	// Refresh (client_secret_basic this time): a new pair and ID token, no
	// nonce, the original auth_time.
	h.clock.Advance(time.Minute)
	ref := wantJSON(t, h.do(request{path: PathToken, form: "grant_type=refresh_token&refresh_token=" + tok["refresh_token"], header: c.basic()}),
		noStoreJSON, map[string]*regexp.Regexp{"access_token": reAccessToken, "refresh_token": reRefreshToken, "id_token": reJWT},
		map[string]any{"access_token": "<access_token>", "token_type": "Bearer", "expires_in": num(3600),
			"refresh_token": "<refresh_token>", "scope": "openid email", "id_token": "<id_token>"})
	if cl := h.claims(ref["id_token"]); cl["auth_time"] != num(now-1) || cl["iat"] != num(now+60) {
		t.Errorf("refreshed ID token auth_time, iat = %v, %v; want %d, %d", cl["auth_time"], cl["iat"], now-1, now+60)
	}
}

func TestCodeFlowWire(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A public client without its secret: PKCE carries the proof.
	pub := h.codeTokens(h.awsClient(), true, []string{"openid", "profile"}, "n-0S6_WzA2Mj")
	cl := h.claims(pub.IDToken)
	for name, want := range map[string]any{"nonce": "n-0S6_WzA2Mj", "name": "Alice Liddell", "preferred_username": "alice"} {
		if cl[name] != want {
			t.Errorf("ID token %s = %v, want %v", name, cl[name], want)
		}
	}
	if _, ok := cl["email"]; ok {
		t.Error("ID token has email without the email scope")
	}
	// A confidential client with PKCE and its secret; without openid, no
	// ID token.
	conf := h.codeTokens(h.confidential(), false, []string{"sso:account:access"}, "")
	if conf.IDToken != "" || conf.Scope != "sso:account:access" {
		t.Errorf("without openid: id_token %q, scope %q; want none, sso:account:access", conf.IDToken, conf.Scope)
	}
}

// TestConfidentialCodeWithoutPKCE: PKCE is optional for a confidential
// client, and then no verifier may be sent.
func TestConfidentialCodeWithoutPKCE(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	conf := h.confidential()
	issue := func() string {
		a, err := h.engine.CheckAuthorize(t.Context(), oauth.AuthorizeRequest{ResponseType: "code", ClientID: conf.id, RedirectURI: testRedirect})
		if err != nil {
			t.Fatalf("CheckAuthorize without PKCE: %v", err)
		}
		code, err := h.engine.IssueAuthCode(t.Context(), a, "u1", t0)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	form := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}}
	}
	f := form(issue())
	f.Set("code_verifier", strings.Repeat("v", 43))
	wantError(t, h.do(request{path: PathToken, form: f.Encode(), header: conf.basic()}), 400, noStoreJSON,
		"invalid_grant", "The authorization request had no code challenge.")
	var tok tokens
	h.mustOK(h.do(request{path: PathToken, form: form(issue()).Encode(), header: conf.basic()}), &tok)

	pub := h.awsClient()
	if _, err := h.engine.CheckAuthorize(t.Context(), oauth.AuthorizeRequest{ResponseType: "code", ClientID: pub.id, RedirectURI: testRedirect}); err == nil {
		t.Error("a public client's authorization request without PKCE was accepted")
	}
}

func TestIntrospectionAndRevocationWire(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	app := h.awsClient()
	rs := h.confidential() // the resource server
	tok := h.deviceTokens(app, "openid profile")
	now := h.clock.Now().Unix()

	introspect := func(who testClient, token string) *httptest.ResponseRecorder {
		return h.do(request{path: PathIntrospect, form: url.Values{"token": {token}}.Encode(), header: who.basic()})
	}
	active := map[string]any{
		"active": true, "scope": "openid profile", "client_id": app.id, "username": "alice",
		"token_type": "Bearer", "exp": num(now + 3600), "iat": num(now), "sub": "u1", "iss": testIssuer,
	}
	wantJSON(t, introspect(rs, tok.AccessToken), noStoreJSON, nil, active)
	wantJSON(t, introspect(app, tok.AccessToken), noStoreJSON, nil, active)
	// A refresh token is active only for its own client: a resource server
	// must never take one for an access token.
	wantJSON(t, introspect(rs, tok.RefreshToken), noStoreJSON, nil, map[string]any{"active": false})
	wantJSON(t, h.do(request{path: PathIntrospect, form: url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"},
		"client_id": {app.id}, "client_secret": {app.secret}}.Encode()}), noStoreJSON, nil, map[string]any{
		"active": true, "scope": "openid profile", "client_id": app.id, "username": "alice",
		"token_type": "refresh_token", "exp": num(now + 8*3600), "iat": num(now), "sub": "u1", "iss": testIssuer,
	})
	for _, unknown := range []string{"sso_at_unknown", strings.Repeat("x", 600), tok.IDToken} {
		wantJSON(t, introspect(rs, unknown), noStoreJSON, nil, map[string]any{"active": false})
	}
	// Another public client may not look at app's tokens.
	wantJSON(t, introspect(h.awsClient(), tok.AccessToken), noStoreJSON, nil, map[string]any{"active": false})

	// Revocation: another client's token is refused; the owner (no secret:
	// a public client) revokes the refresh token, and the whole family is
	// inactive.
	revoke := func(who testClient, form url.Values) *httptest.ResponseRecorder {
		return h.do(request{path: PathRevoke, form: form.Encode(), header: who.basic()})
	}
	wantError(t, revoke(rs, url.Values{"token": {tok.RefreshToken}}), 400, noStoreJSON,
		"unauthorized_client", "The token was not issued to this client.")
	rec := h.do(request{path: PathRevoke, form: url.Values{"token": {tok.RefreshToken}, "client_id": {app.id}}.Encode()})
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("revoke = %d %q, want 200 and no body", rec.Code, rec.Body)
	}
	wantHeaders(t, rec, map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache"})
	for _, tk := range []string{tok.AccessToken, tok.RefreshToken} {
		wantJSON(t, introspect(rs, tk), noStoreJSON, nil, map[string]any{"active": false})
	}
	wantError(t, h.do(request{path: PathToken, form: "grant_type=refresh_token&refresh_token=" + tok.RefreshToken, header: app.basic()}),
		400, noStoreJSON, "invalid_grant", "Invalid refresh token provided.")
	// Revoking again, or an unknown token: 200.
	for _, tk := range []string{tok.AccessToken, "sso_rt_unknown"} {
		if rec := revoke(app, url.Values{"token": {tk}}); rec.Code != 200 {
			t.Errorf("revoke(%s) = %d %s, want 200", tk, rec.Code, rec.Body)
		}
	}
}

func TestUserInfoWire(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.awsClient()
	tok := h.deviceTokens(c, "openid email profile")
	want := `{"sub":"u1","email":"alice@example.test","name":"Alice Liddell","preferred_username":"alice"}`
	for _, q := range []request{
		{method: http.MethodGet, path: PathUserInfo, header: map[string]string{"Authorization": "Bearer " + tok.AccessToken}},
		{path: PathUserInfo, header: map[string]string{"Authorization": "bearer " + tok.AccessToken}},
		{path: PathUserInfo, form: "access_token=" + tok.AccessToken},
	} {
		rec := h.do(q)
		if rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("%s userinfo = %d %s, want 200 %s", q.method, rec.Code, rec.Body, want)
		}
		wantHeaders(t, rec, noStoreJSON)
	}
}

// TestErrorsWire covers every RFC error the dialect answers, with its
// exact status, headers and body.
func TestErrorsWire(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pub := h.awsClient()
	narrow := h.awsClient("sso:account:access")
	conf := h.confidential()
	deviceOnly := h.confidential(oauth.GrantDeviceCode, oauth.GrantRefreshToken)
	noOpenID := h.deviceTokens(narrow, "")
	basicHeader := with(noStoreJSON, "Www-Authenticate", `Basic realm="ssooidc"`)
	bearer := func(extra string) map[string]string {
		return with(noStoreJSON, "Www-Authenticate", `Bearer realm="ssooidc"`+extra)
	}

	var pending deviceAuth
	h.mustOK(h.do(request{path: PathDeviceAuthorization, header: deviceOnly.basic()}), &pending)
	denied := h.startDevice(pub, "")
	h.decide(denied, false)
	expired := h.startDevice(pub, "")

	tests := []struct {
		name        string
		q           request
		before      func()
		status      int
		header      map[string]string
		code, descr string
	}{
		// invalid_request
		{name: "repeated parameter", q: request{path: PathToken, form: "grant_type=refresh_token&grant_type=refresh_token"},
			status: 400, header: noStoreJSON, code: "invalid_request", descr: "grant_type is given more than once."},
		{name: "no grant_type", q: request{path: PathToken, form: "client_id=" + pub.id},
			status: 400, header: noStoreJSON, code: "invalid_request", descr: "grant_type is required."},
		{name: "no device_code", q: request{path: PathToken, form: "grant_type=" + url.QueryEscape(oauth.GrantDeviceCode) + "&client_id=" + pub.id},
			status: 400, header: noStoreJSON, code: "invalid_request", descr: "device_code is required for the urn:ietf:params:oauth:grant-type:device_code grant."},
		{name: "JSON body", q: request{path: PathToken, form: `{"grant_type":"refresh_token"}`, header: map[string]string{"Content-Type": "application/json"}},
			status: 400, header: noStoreJSON, code: "invalid_request", descr: "The request body must be application/x-www-form-urlencoded."},
		{name: "bad encoding", q: request{path: PathDeviceAuthorization, form: "client_id=%zz"},
			status: 400, header: noStoreJSON, code: "invalid_request", descr: "The request body is not valid form encoding."},
		{name: "control character", q: request{path: PathDeviceAuthorization, form: "client_id=a%00b"},
			status: 400, header: noStoreJSON, code: "invalid_request", descr: "client_id must be text without control characters."},
		{name: "too large", q: request{path: PathToken, form: "x=" + strings.Repeat("a", maxFormBytes)},
			status: 400, header: noStoreJSON, code: "invalid_request", descr: "The request body is too large."},
		{name: "two auth methods", q: request{path: PathToken, form: "grant_type=refresh_token&refresh_token=r&client_secret=" + conf.secret, header: conf.basic()},
			status: 400, header: noStoreJSON, code: "invalid_request", descr: "Use one client authentication method: HTTP Basic or client_secret, not both."},
		{name: "client_id mismatch", q: request{path: PathToken, form: "grant_type=refresh_token&refresh_token=r&client_id=" + pub.id, header: conf.basic()},
			status: 400, header: noStoreJSON, code: "invalid_request", descr: "client_id does not match the Basic credentials."},
		{name: "revoke without token", q: request{path: PathRevoke, header: pub.basic()},
			status: 400, header: noStoreJSON, code: "invalid_request", descr: "token is required."},
		{name: "userinfo token twice", q: request{path: PathUserInfo, form: "access_token=a", header: map[string]string{"Authorization": "Bearer b"}},
			status: 400, header: bearer(`, error="invalid_request", error_description="Send the access token once: in the Authorization header or the body, not both."`),
			code: "invalid_request", descr: "Send the access token once: in the Authorization header or the body, not both."},

		// invalid_client: 401 with the Basic challenge.
		{name: "wrong secret", q: request{path: PathToken, form: "grant_type=refresh_token&refresh_token=r", header: testClient{conf.id, "sso_cs_wrong"}.basic()},
			status: 401, header: basicHeader, code: "invalid_client", descr: "Invalid client: unknown client id or wrong client secret."},
		{name: "unknown client", q: request{path: PathDeviceAuthorization, form: "client_id=nobody&client_secret=s"},
			status: 401, header: basicHeader, code: "invalid_client", descr: "Invalid client: unknown client id or wrong client secret."},
		{name: "no client_id", q: request{path: PathToken, form: "grant_type=refresh_token&refresh_token=r"},
			status: 401, header: basicHeader, code: "invalid_client", descr: "Client authentication failed: no client_id."},
		{name: "confidential without secret", q: request{path: PathToken, form: "grant_type=refresh_token&refresh_token=r&client_id=" + conf.id},
			status: 401, header: basicHeader, code: "invalid_client", descr: "Invalid client: unknown client id or wrong client secret."},
		{name: "other scheme", q: request{path: PathToken, form: "grant_type=refresh_token&refresh_token=r", header: map[string]string{"Authorization": "Bearer x"}},
			status: 401, header: basicHeader, code: "invalid_client", descr: "Client authentication must use HTTP Basic or client_secret in the body."},
		{name: "introspect without secret", q: request{path: PathIntrospect, form: "token=t&client_id=" + pub.id},
			status: 401, header: basicHeader, code: "invalid_client", descr: "Introspection requires client authentication."},

		// invalid_grant
		{name: "unknown device code", q: request{path: PathToken, form: pollForm(pub, deviceAuth{DeviceCode: "sso_dc_x"})},
			status: 400, header: noStoreJSON, code: "invalid_grant", descr: "Invalid device code provided."},
		{name: "unknown refresh token", q: request{path: PathToken, form: "grant_type=refresh_token&refresh_token=sso_rt_x&client_id=" + pub.id},
			status: 400, header: noStoreJSON, code: "invalid_grant", descr: "Invalid refresh token provided."},
		{name: "unknown code", q: request{path: PathToken, form: "grant_type=authorization_code&code=sso_ac_x&redirect_uri=" + url.QueryEscape(testRedirect), header: conf.basic()},
			status: 400, header: noStoreJSON, code: "invalid_grant", descr: "Invalid authorization code provided."},

		// unauthorized_client, unsupported_grant_type, invalid_scope
		{name: "grant not registered", q: request{path: PathDeviceAuthorization, header: conf.basic()},
			status: 400, header: noStoreJSON, code: "unauthorized_client", descr: "This client is not registered for the device code grant."},
		{name: "password grant", q: request{path: PathToken, form: "grant_type=password&username=alice&password=x", header: conf.basic()},
			status: 400, header: noStoreJSON, code: "unsupported_grant_type", descr: `Grant type "password" is not supported.`},
		{name: "scope not registered", q: request{path: PathDeviceAuthorization, form: "scope=openid&client_id=" + narrow.id},
			status: 400, header: noStoreJSON, code: "invalid_scope", descr: `Scope "openid" was not registered by this client.`},

		// The device flow's errors (RFC 8628 §3.5).
		{name: "authorization_pending", q: request{path: PathToken, form: pollForm(deviceOnly, pending), header: deviceOnly.basic()},
			status: 400, header: noStoreJSON, code: "authorization_pending", descr: "Authorization is still pending."},
		{name: "slow_down", q: request{path: PathToken, form: pollForm(deviceOnly, pending), header: deviceOnly.basic()},
			before: func() {
				h.do(request{path: PathToken, form: pollForm(deviceOnly, pending), header: deviceOnly.basic()})
			},
			status: 400, header: noStoreJSON, code: "slow_down", descr: "Client is polling too fast; the interval is now 6 seconds."},
		{name: "access_denied", q: request{path: PathToken, form: pollForm(pub, denied)},
			status: 400, header: noStoreJSON, code: "access_denied", descr: "The request was denied."},
		{name: "expired_token", q: request{path: PathToken, form: pollForm(pub, expired)},
			before: func() { h.clock.Advance(11 * time.Minute) },
			status: 400, header: noStoreJSON, code: "expired_token", descr: "The device code has expired."},

		// Bearer-token errors (RFC 6750 §3.1).
		{name: "userinfo without token", q: request{method: http.MethodGet, path: PathUserInfo},
			status: 401, header: bearer(""), code: "invalid_token", descr: "No access token was sent."},
		{name: "userinfo unknown token", q: request{method: http.MethodGet, path: PathUserInfo, header: map[string]string{"Authorization": "Bearer sso_at_x"}},
			status: 401, header: bearer(`, error="invalid_token", error_description="Session token not found or invalid"`),
			code: "invalid_token", descr: "Session token not found or invalid"},
		{name: "userinfo without openid", q: request{method: http.MethodGet, path: PathUserInfo, header: map[string]string{"Authorization": "Bearer " + noOpenID.AccessToken}},
			status: 403, header: bearer(`, error="insufficient_scope", error_description="The access token was not granted the openid scope."`),
			code: "insufficient_scope", descr: "The access token was not granted the openid scope."},

		// RFC 7009 §2.2.1.
		{name: "unsupported_token_type", q: request{path: PathRevoke, form: "token=t&token_type_hint=id_token", header: pub.basic()},
			status: 400, header: noStoreJSON, code: "unsupported_token_type", descr: "Only access and refresh tokens can be revoked."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			wantError(t, h.do(tc.q), tc.status, tc.header, tc.code, tc.descr)
		})
	}
}

// TestInternalErrorWire: a failure the client cannot help is server_error
// without detail.
func TestInternalErrorWire(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.awsClient()
	h.store.Close()
	wantError(t, h.do(request{path: PathDeviceAuthorization, form: "client_id=" + c.id}), 500, noStoreJSON,
		"server_error", "An internal error occurred.")
}
