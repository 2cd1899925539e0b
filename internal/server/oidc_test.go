package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ssooidc/ssooidc/internal/keys"
	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/server/servertest"
)

// The standard dialect, driven by real clients: golang.org/x/oauth2 for the
// device and authorization code flows, github.com/coreos/go-oidc for
// discovery and ID token verification.

// tokenTap watches the token endpoint's answers for a test: it counts them
// and runs onPending after each authorization_pending.
type tokenTap struct {
	next      http.RoundTripper
	mu        sync.Mutex
	requests  int
	pending   int
	slowDown  int
	onPending func(n int)
}

func (tt *tokenTap) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tt.next.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/oauth2/token") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	tt.mu.Lock()
	tt.requests++
	var n int
	switch {
	case bytes.Contains(body, []byte(`"authorization_pending"`)):
		tt.pending++
		n = tt.pending
	case bytes.Contains(body, []byte(`"slow_down"`)):
		tt.slowDown++
	}
	fn := tt.onPending
	tt.mu.Unlock()
	if n > 0 && fn != nil {
		fn(n)
	}
	return resp, nil
}

// oidcContext is a context whose HTTP client x/oauth2 and go-oidc use; its
// idle connections close when the test ends, before the server stops.
func oidcContext(t *testing.T, tap *tokenTap) context.Context {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	var rt http.RoundTripper = transport
	if tap != nil {
		tap.next = transport
		rt = tap
	}
	hc := &http.Client{Transport: rt, Timeout: 30 * time.Second}
	return oidc.ClientContext(context.WithValue(t.Context(), oauth2.HTTPClient, hc), hc)
}

// registerOpenID registers a public client through the AWS dialect, with
// the OpenID scopes and every grant.
func registerOpenID(t *testing.T, s *servertest.Server, redirectURIs ...string) *ssooidc.RegisterClientOutput {
	t.Helper()
	in := &ssooidc.RegisterClientInput{
		ClientName: aws.String("oidc-app"),
		ClientType: aws.String("public"),
		Scopes:     []string{"openid", "email", "profile"},
	}
	if len(redirectURIs) > 0 {
		in.GrantTypes = []string{"authorization_code", "refresh_token", oauth.GrantDeviceCode}
		in.RedirectUris = redirectURIs
	}
	reg, err := sdkClient(t, s).RegisterClient(context.Background(), in)
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	return reg
}

type testClaims struct {
	Email             string `json:"email"`
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	AuthTime          int64  `json:"auth_time"`
}

func TestOIDCDeviceFlowWithXOAuth2(t *testing.T) {
	s := servertest.Start(t)
	user := s.AddUser(t, testUser, testPassword)
	tap := &tokenTap{}
	ctx := oidcContext(t, tap)
	provider, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	// A public client (RFC 8628 §3.1 lets it omit its secret) registered
	// through the AWS dialect: the same client in the engine.
	reg := registerOpenID(t, s)
	conf := &oauth2.Config{ClientID: aws.ToString(reg.ClientId), Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email"}}
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	if da.VerificationURI != s.URL+"/device" || da.Interval != 1 {
		t.Errorf("device authorization = %+v", da)
	}
	// x/oauth2 sends each poll twice (its auth-style probe: Basic, then
	// the body). After the first poll's pair, the person approves; a second
	// later (on the server's clock) the next poll gets the tokens.
	tap.onPending = func(n int) {
		if n == 2 {
			s.NewBrowser(t).Decide(da.VerificationURIComplete, testUser, testPassword, true)
			s.Clock.Advance(time.Second)
		}
	}
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
	if tap.pending != 2 || tap.slowDown != 0 {
		t.Errorf("polls: %d pending, %d slow_down; want 2 pending (one poll, probed twice), no slow_down", tap.pending, tap.slowDown)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: conf.ClientID, Now: s.Clock.Now}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	var c testClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != user.ID || c.Email != user.Email || c.Name != "" {
		t.Errorf("ID token sub %q email %q name %q; want %q, %q and no name (no profile scope)", idt.Subject, c.Email, c.Name, user.ID, user.Email)
	}
	if got := tok.Extra("scope"); got != "openid email" {
		t.Errorf("scope = %v, want openid email", got)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	if info.Subject != user.ID || info.Email != user.Email {
		t.Errorf("userinfo = %+v", info)
	}
}

// callbackServer is a client's loopback redirect URI.
type callbackServer struct {
	uri   string
	calls chan url.Values
}

func startCallback(t *testing.T) *callbackServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cb := &callbackServer{uri: fmt.Sprintf("http://%s/callback", ln.Addr()), calls: make(chan url.Values, 4)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb.calls <- r.URL.Query()
		fmt.Fprintln(w, "signed in")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return cb
}

func (cb *callbackServer) wait(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-cb.calls:
		return q
	case <-time.After(30 * time.Second):
		t.Fatal("the browser never reached the callback")
		return nil
	}
}

func TestOIDCCodeFlowWithXOAuth2(t *testing.T) {
	s := servertest.Start(t)
	user := s.AddUser(t, testUser, testPassword)
	ctx := oidcContext(t, nil)
	provider, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	cb := startCallback(t)
	// A confidential client added by an administrator (client_secret_basic,
	// PKCE optional but used), and a public AWS-registered one without its
	// secret (auth method none: PKCE mandatory).
	conf, err := s.Server.Engine().AddConfidentialClient(t.Context(), oauth.ConfidentialClientRequest{
		Name: "web app", RedirectURIs: []string{"http://127.0.0.1/callback"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pub := registerOpenID(t, s, "http://127.0.0.1/callback")
	for _, c := range []struct {
		name         string
		id, secret   string
		wantRefresh  bool
		wantInfoName string
	}{
		{"confidential", conf.ClientID, conf.ClientSecret, true, "User " + testUser},
		{"public", aws.ToString(pub.ClientId), "", true, "User " + testUser},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &oauth2.Config{
				ClientID: c.id, ClientSecret: c.secret, Endpoint: provider.Endpoint(), RedirectURL: cb.uri,
				Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
			}
			verifier := oauth2.GenerateVerifier()
			state, nonce := "st-"+c.name, "nonce-"+c.name
			authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
			if !strings.HasPrefix(authURL, s.URL+"/oauth2/authorize?") {
				t.Fatalf("authorization URL %s", authURL)
			}
			s.NewBrowser(t).Decide(authURL, testUser, testPassword, true)
			q := cb.wait(t)
			if q.Get("state") != state || q.Get("code") == "" {
				t.Fatalf("callback %v", q)
			}
			tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if tok.RefreshToken == "" {
				t.Error("no refresh token")
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := provider.Verifier(&oidc.Config{ClientID: c.id, Now: s.Clock.Now}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("verify ID token: %v", err)
			}
			var cl testClaims
			if err := idt.Claims(&cl); err != nil {
				t.Fatal(err)
			}
			if idt.Nonce != nonce || idt.Subject != user.ID || cl.Email != user.Email || cl.Name != c.wantInfoName || cl.PreferredUsername != testUser {
				t.Errorf("ID token nonce %q sub %q claims %+v", idt.Nonce, idt.Subject, cl)
			}
			// A second redemption of the code fails and revokes what the
			// first one issued (RFC 6749 §4.1.2).
			if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err == nil {
				t.Error("the code was redeemed twice")
			}
			if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
				t.Error("userinfo accepts a token of a family revoked by code reuse")
			}
		})
	}
}

// awsOpenIDLogin runs the AWS device flow with the SDK for a client that
// registered the openid scope, and returns its tokens.
func awsOpenIDLogin(t *testing.T, s *servertest.Server) (deviceLogin, *ssooidc.CreateTokenOutput) {
	t.Helper()
	c := sdkClient(t, s)
	reg := registerOpenID(t, s)
	start, err := c.StartDeviceAuthorization(t.Context(), &ssooidc.StartDeviceAuthorizationInput{
		ClientId: reg.ClientId, ClientSecret: reg.ClientSecret, StartUrl: aws.String(testStartURL),
	})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization: %v", err)
	}
	l := deviceLogin{client: c, reg: reg, start: start}
	s.NewBrowser(t).Decide(aws.ToString(start.VerificationUriComplete), testUser, testPassword, true)
	s.Clock.Advance(time.Second)
	tok, err := l.poll()
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	return l, tok
}

// jwksKids fetches the published key ids.
func jwksKids(t *testing.T, s *servertest.Server) []string {
	t.Helper()
	resp, err := http.Get(s.URL + "/oauth2/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, Alg, Kty string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		if k.Alg != "RS256" || k.Kty != "RSA" {
			t.Errorf("published key %+v, want RS256 (the default)", k)
		}
		out = append(out, k.Kid)
	}
	return out
}

// TestOIDCVerifyAcrossKeyRotation: a relying party that discovered the
// issuer once verifies ID tokens (here the AWS dialect's idToken, for a
// client that registered openid) before, during and after a rotation.
func TestOIDCVerifyAcrossKeyRotation(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	ctx := oidcContext(t, nil)
	provider, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	l, first := awsOpenIDLogin(t, s)
	if first.IdToken == nil {
		t.Fatal("CreateToken for a client registered with openid returned no idToken")
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: aws.ToString(l.reg.ClientId), Now: s.Clock.Now})
	kidOf := func(name, raw string) string {
		t.Helper()
		if _, err := verifier.Verify(ctx, raw); err != nil {
			t.Fatalf("verify %s ID token: %v", name, err)
		}
		var h struct{ Kid string }
		b, _ := jwtPart(raw, 0)
		json.Unmarshal(b, &h)
		return h.Kid
	}
	oldKid := kidOf("first", aws.ToString(first.IdToken))
	if got := jwksKids(t, s); len(got) != 1 || got[0] != oldKid {
		t.Fatalf("JWKS = %v, want [%s]", got, oldKid)
	}

	rotated, err := s.Server.SigningKeys().Rotate(t.Context())
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	// Published at once, signing only after the activation delay.
	if got := jwksKids(t, s); len(got) != 2 || got[0] != rotated.ID || got[1] != oldKid {
		t.Fatalf("JWKS after rotation = %v, want [%s %s]", got, rotated.ID, oldKid)
	}
	s.Clock.Advance(time.Minute)
	ref, err := l.refresh(aws.ToString(first.RefreshToken))
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if got := kidOf("refreshed", aws.ToString(ref.IdToken)); got != oldKid {
		t.Errorf("before activation, signed by %s, want the old key %s", got, oldKid)
	}

	s.Clock.Advance(keys.ActivationDelay)
	ref2, err := l.refresh(aws.ToString(ref.RefreshToken))
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if got := kidOf("after activation", aws.ToString(ref2.IdToken)); got != rotated.ID {
		t.Errorf("after activation, signed by %s, want the new key %s", got, rotated.ID)
	}
	// A token the old key signed still verifies: the key stays published.
	kidOf("first, again", aws.ToString(first.IdToken))

	// Once every token it signed has expired, the old key goes.
	s.Clock.Advance(time.Hour + 5*time.Minute)
	if got := jwksKids(t, s); len(got) != 1 || got[0] != rotated.ID {
		t.Errorf("JWKS after the old key's horizon = %v, want [%s]", got, rotated.ID)
	}
	s.Server.CollectOnce(t.Context())
	if list, err := s.Server.SigningKeys().List(t.Context()); err != nil || len(list) != 1 {
		t.Errorf("stored keys after collection = %+v, %v; want only the new one", list, err)
	}
}

// jwtPart decodes part i of a compact JWS.
func jwtPart(raw string, i int) ([]byte, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWS")
	}
	return base64.RawURLEncoding.DecodeString(parts[i])
}

// postForm sends an RFC dialect request with client_secret_basic.
func postForm(t *testing.T, s *servertest.Server, path, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
	}
	return resp.StatusCode, m
}

// TestIntrospectAWSDialectToken: a resource server introspects a token the
// AWS dialect issued; revoked through the RFC dialect, the family is
// inactive everywhere, AWS refresh included.
func TestIntrospectAWSDialectToken(t *testing.T) {
	s := servertest.Start(t)
	user := s.AddUser(t, testUser, testPassword)
	l := startDeviceLogin(t, s)
	s.NewBrowser(t).Decide(aws.ToString(l.start.VerificationUriComplete), testUser, testPassword, true)
	s.Clock.Advance(time.Second)
	tok, err := l.poll()
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if tok.IdToken != nil {
		t.Errorf("idToken for a client without openid: %q", aws.ToString(tok.IdToken))
	}
	rs, err := s.Server.Engine().AddConfidentialClient(t.Context(), oauth.ConfidentialClientRequest{
		Name: "resource server", RedirectURIs: []string{"https://api.example.test/cb"},
	})
	if err != nil {
		t.Fatal(err)
	}
	introspect := func(token string) map[string]any {
		t.Helper()
		status, m := postForm(t, s, "/oauth2/introspect", rs.ClientID, rs.ClientSecret, url.Values{"token": {token}})
		if status != 200 {
			t.Fatalf("introspect = %d %v", status, m)
		}
		return m
	}
	got := introspect(aws.ToString(tok.AccessToken))
	want := map[string]any{"active": true, "client_id": aws.ToString(l.reg.ClientId), "username": testUser,
		"sub": user.ID, "scope": "sso:account:access", "token_type": "Bearer", "iss": s.URL}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("introspection %s = %v, want %v", k, got[k], v)
		}
	}

	// The AWS client revokes its refresh token the RFC way
	// (client_secret_post).
	status, m := postForm(t, s, "/oauth2/revoke", "", "", url.Values{
		"token": {aws.ToString(tok.RefreshToken)}, "token_type_hint": {"refresh_token"},
		"client_id": {aws.ToString(l.reg.ClientId)}, "client_secret": {aws.ToString(l.reg.ClientSecret)},
	})
	if status != 200 || m != nil {
		t.Fatalf("revoke = %d %v, want 200 and no body", status, m)
	}
	for _, token := range []string{aws.ToString(tok.AccessToken), aws.ToString(tok.RefreshToken)} {
		if got := introspect(token); len(got) != 1 || got["active"] != false {
			t.Errorf("after revocation, introspection = %v, want {active:false}", got)
		}
	}
	_, err = l.refresh(aws.ToString(tok.RefreshToken))
	wantErr[*types.InvalidGrantException](t, err)
}
