package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"

	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// What every harness engine serves.
const (
	testIssuer   = "http://127.0.0.1:8080"
	testStartURL = testIssuer + "/start"
)

// t0 is the harness clock's start: microsecond-aligned UTC, as the stores
// keep time, so epoch seconds in answers are exact.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// testStore is what the tests need from the real store besides the engine's
// view: users to approve grants, and inspection of a grant's state.
type testStore interface {
	oauth.Store
	CreateUser(ctx context.Context, u store.User) error
	UpdateUser(ctx context.Context, u store.User) error
	Close() error
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is a real engine on a real store behind the API's routes.
type harness struct {
	tb     testing.TB
	clock  *clocktest.Clock
	store  testStore
	keys   *secret.Keys
	engine *oauth.Engine
	api    *API
	mux    *http.ServeMux
	logs   *syncBuffer
}

func newHarness(tb testing.TB) *harness {
	return newHarnessConfig(tb, oauth.Config{Issuer: testIssuer})
}

func newHarnessConfig(tb testing.TB, cfg oauth.Config) *harness {
	tb.Helper()
	st := openTestStore(tb)
	tb.Cleanup(func() { st.Close() })
	keys, err := secret.New(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		tb.Fatalf("secret.New: %v", err)
	}
	clock := clocktest.New(t0)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	engine := oauth.New(st, keys, cfg, clock.Now, log)
	api := New(engine, log)
	mux := http.NewServeMux()
	api.Register(mux)
	return &harness{tb: tb, clock: clock, store: st, keys: keys, engine: engine, api: api, mux: mux, logs: logs}
}

// post sends one request through the mux.
func (h *harness) post(path, body string) *httptest.ResponseRecorder {
	return h.postContext(context.Background(), path, body)
}

func (h *harness) postContext(ctx context.Context, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aws-cli/2.9.19 test")
	rec := httptest.NewRecorder()
	h.mux.ServeHTTP(rec, req)
	return rec
}

// mustOK decodes a 200 answer into v.
func (h *harness) mustOK(rec *httptest.ResponseRecorder, v any) {
	h.tb.Helper()
	if rec.Code != http.StatusOK {
		h.tb.Fatalf("status %d, want 200; body %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		h.tb.Fatalf("decode %s: %v", rec.Body, err)
	}
}

// jsonOf marshals a request body.
func jsonOf(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("marshal: %v", err)
	}
	return string(b)
}

type client struct{ id, secret string }

// register is a device-flow RegisterClient, as `aws sso login` sends it.
func (h *harness) register() client {
	h.tb.Helper()
	var r struct{ ClientID, ClientSecret string }
	h.mustOK(h.post("/client/register", `{"clientName":"botocore-client-test","clientType":"public","scopes":["sso:account:access"]}`), &r)
	return client{r.ClientID, r.ClientSecret}
}

// registerPKCE is the CLI's PKCE RegisterClient.
func (h *harness) registerPKCE() client {
	h.tb.Helper()
	var r struct{ ClientID, ClientSecret string }
	h.mustOK(h.post("/client/register", jsonOf(h.tb, map[string]any{
		"clientName":   "botocore-client-pkce",
		"clientType":   "public",
		"grantTypes":   []string{"authorization_code", "refresh_token"},
		"redirectUris": []string{"http://127.0.0.1/oauth/callback"},
		"issuerUrl":    testStartURL,
		"scopes":       []string{"sso:account:access"},
	})), &r)
	return client{r.ClientID, r.ClientSecret}
}

func (c client) startBody() string {
	return `{"clientId":"` + c.id + `","clientSecret":"` + c.secret + `","startUrl":"` + testStartURL + `"}`
}

type deviceAuth struct{ DeviceCode, UserCode string }

// start is StartDeviceAuthorization for c.
func (h *harness) start(c client) deviceAuth {
	h.tb.Helper()
	var d deviceAuth
	h.mustOK(h.post("/device_authorization", c.startBody()), &d)
	return d
}

func (c client) pollBody(deviceCode string) string {
	return `{"clientId":"` + c.id + `","clientSecret":"` + c.secret + `","grantType":"urn:ietf:params:oauth:grant-type:device_code","deviceCode":"` + deviceCode + `"}`
}

func (c client) refreshBody(refreshToken string) string {
	return `{"grantType":"refresh_token","clientId":"` + c.id + `","clientSecret":"` + c.secret + `","refreshToken":"` + refreshToken + `"}`
}

func (h *harness) poll(c client, deviceCode string) *httptest.ResponseRecorder {
	return h.post("/token", c.pollBody(deviceCode))
}

// user creates an enabled user.
func (h *harness) user(id string) store.User {
	h.tb.Helper()
	u := store.User{ID: id, Name: id, Email: id + "@example.com", DisplayName: id, CreatedAt: h.clock.Now(), UpdatedAt: h.clock.Now()}
	if err := h.store.CreateUser(context.Background(), u); err != nil {
		h.tb.Fatalf("CreateUser: %v", err)
	}
	return u
}

// decide approves or denies the grant as the person on the device page.
func (h *harness) decide(userCode, userID string, approve bool) {
	h.tb.Helper()
	if err := h.engine.DecideDevice(context.Background(), userCode, userID, approve); err != nil {
		h.tb.Fatalf("DecideDevice(%s, approve=%v): %v", userCode, approve, err)
	}
}

type tokens struct{ AccessToken, RefreshToken string }

// login runs the whole device flow and returns the first token pair.
func (h *harness) login(c client) tokens {
	h.tb.Helper()
	d := h.start(c)
	u := h.user("u-" + secret.ID(6))
	h.decide(d.UserCode, u.ID, true)
	var tk tokens
	h.mustOK(h.poll(c, d.DeviceCode), &tk)
	return tk
}

// grant reads a device grant back from the store by its user code.
func (h *harness) grant(userCode string) store.DeviceGrant {
	h.tb.Helper()
	code, ok := oauth.NormalizeUserCode(userCode)
	if !ok {
		h.tb.Fatalf("bad user code %q", userCode)
	}
	g, err := h.store.GetDeviceGrantByUserCode(context.Background(), h.keys.Hash("user-code", code))
	if err != nil {
		h.tb.Fatalf("GetDeviceGrantByUserCode: %v", err)
	}
	return g
}

// s256 is an RFC 7636 S256 code challenge.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
