package oauthapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"

	"github.com/ssooidc/ssooidc/internal/keys"
	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

const (
	testIssuer   = "http://127.0.0.1:8080"
	testRedirect = "http://127.0.0.1/callback"
)

// t0 is the harness clock's start: microsecond-aligned UTC, as the store
// keeps time.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// harness is a real engine on a real store, with real signing keys,
// behind the dialect's routes.
type harness struct {
	tb      testing.TB
	clock   *clocktest.Clock
	store   *sqlite.Store
	secrets *secret.Keys
	keys    *keys.Manager
	engine  *oauth.Engine
	mux     *http.ServeMux
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	st, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "oauthapi.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	secrets, err := secret.New(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	clock := clocktest.New(t0)
	km, err := keys.New(st, secrets, keys.Config{Algorithm: keys.ES256, Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	engine := oauth.New(st, secrets, oauth.Config{Issuer: testIssuer, IDTokens: km}, clock.Now, nil)
	mux := http.NewServeMux()
	New(engine, Config{Keys: km, JWKSMaxAge: 300}).Register(mux)
	h := &harness{tb: tb, clock: clock, store: st, secrets: secrets, keys: km, engine: engine, mux: mux}
	if err := st.CreateUser(tb.Context(), store.User{ID: "u1", Name: "alice", Email: "alice@example.test",
		DisplayName: "Alice Liddell", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		tb.Fatal(err)
	}
	return h
}

// request is one HTTP request to the mux.
type request struct {
	method string // POST when empty
	path   string
	form   string // the body, form-encoded
	header map[string]string
}

func (h *harness) do(q request) *httptest.ResponseRecorder {
	if q.method == "" {
		q.method = http.MethodPost
	}
	req := httptest.NewRequestWithContext(h.tb.Context(), q.method, q.path, strings.NewReader(q.form))
	if q.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range q.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.mux.ServeHTTP(rec, req)
	return rec
}

func (h *harness) mustOK(rec *httptest.ResponseRecorder, v any) {
	h.tb.Helper()
	if rec.Code != http.StatusOK {
		h.tb.Fatalf("status %d, want 200; body %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		h.tb.Fatalf("decode %s: %v", rec.Body, err)
	}
}

type testClient struct{ id, secret string }

// basic is the Authorization header of client_secret_basic.
func (c testClient) basic() map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.id)+":"+url.QueryEscape(c.secret)))}
}

// awsClient registers like AWS RegisterClient with the openid scopes: a
// public client that holds a secret.
func (h *harness) awsClient(scopes ...string) testClient {
	h.tb.Helper()
	if scopes == nil {
		scopes = []string{"openid", "email", "profile"}
	}
	c, err := h.engine.RegisterClient(h.tb.Context(), oauth.RegisterRequest{
		ClientName:   "public app",
		ClientType:   "public",
		Scopes:       scopes,
		GrantTypes:   []string{oauth.GrantDeviceCode, oauth.GrantRefreshToken, oauth.GrantAuthorizationCode},
		RedirectURIs: []string{testRedirect},
	})
	if err != nil {
		h.tb.Fatalf("RegisterClient: %v", err)
	}
	return testClient{c.ClientID, c.ClientSecret}
}

// confidential adds a confidential client, as `ssooidc client add` does.
func (h *harness) confidential(grants ...string) testClient {
	h.tb.Helper()
	c, err := h.engine.AddConfidentialClient(h.tb.Context(), oauth.ConfidentialClientRequest{
		Name:         "web app",
		RedirectURIs: []string{testRedirect},
		GrantTypes:   grants,
	})
	if err != nil {
		h.tb.Fatalf("AddConfidentialClient: %v", err)
	}
	return testClient{c.ClientID, c.ClientSecret}
}

type deviceAuth struct {
	DeviceCode string `json:"device_code"`
	UserCode   string `json:"user_code"`
}

func (h *harness) startDevice(c testClient, scope string) deviceAuth {
	h.tb.Helper()
	var d deviceAuth
	h.mustOK(h.do(request{path: PathDeviceAuthorization, form: url.Values{"client_id": {c.id}, "scope": {scope}}.Encode()}), &d)
	return d
}

func (h *harness) decide(d deviceAuth, approve bool) {
	h.tb.Helper()
	if err := h.engine.DecideDevice(h.tb.Context(), d.UserCode, "u1", approve); err != nil {
		h.tb.Fatalf("DecideDevice: %v", err)
	}
}

func pollForm(c testClient, d deviceAuth) string {
	return url.Values{"grant_type": {oauth.GrantDeviceCode}, "client_id": {c.id}, "device_code": {d.DeviceCode}}.Encode()
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
}

// deviceTokens runs the device flow for a public client with scope.
func (h *harness) deviceTokens(c testClient, scope string) tokens {
	h.tb.Helper()
	d := h.startDevice(c, scope)
	h.decide(d, true)
	var t tokens
	h.mustOK(h.do(request{path: PathToken, form: pollForm(c, d)}), &t)
	return t
}

// codeTokens runs the authorization code flow with PKCE for c, with no
// secret when public.
func (h *harness) codeTokens(c testClient, public bool, scopes []string, nonce string) tokens {
	h.tb.Helper()
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	a, err := h.engine.CheckAuthorize(h.tb.Context(), oauth.AuthorizeRequest{
		ResponseType: "code", ClientID: c.id, RedirectURI: testRedirect, Scopes: scopes, Nonce: nonce,
		CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]), CodeChallengeMethod: "S256",
	})
	if err != nil {
		h.tb.Fatalf("CheckAuthorize: %v", err)
	}
	code, err := h.engine.IssueAuthCode(h.tb.Context(), a, "u1", h.clock.Now())
	if err != nil {
		h.tb.Fatalf("IssueAuthCode: %v", err)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect},
		"code_verifier": {verifier}, "client_id": {c.id}}
	if !public {
		form.Set("client_secret", c.secret)
	}
	var t tokens
	h.mustOK(h.do(request{path: PathToken, form: form.Encode()}), &t)
	return t
}

// claims decodes a JWT's payload after checking its signature with the
// keys the harness publishes.
func (h *harness) claims(jwt string) map[string]any {
	h.tb.Helper()
	payload, err := h.keys.Verify(h.tb.Context(), jwt)
	if err != nil {
		h.tb.Fatalf("verify %q: %v", jwt, err)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		h.tb.Fatal(err)
	}
	return m
}
