package portal_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"

	"github.com/ssooidc/ssooidc/internal/accounts"
	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/credentials"
	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/portal"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

// t0 is the harness clock's start.
var t0 = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

// events records audit events.
type events struct {
	mu  sync.Mutex
	all []audit.Event
}

func (e *events) Record(_ context.Context, ev audit.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) of(t audit.Type) []audit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []audit.Event
	for _, ev := range e.all {
		if ev.Type == t {
			out = append(out, ev)
		}
	}
	return out
}

// failing is a credential source that always fails.
type failing struct{}

func (failing) Credentials(context.Context, credentials.Request) (credentials.Credentials, error) {
	return credentials.Credentials{}, errors.New("sts: AccessDenied: not authorized to perform sts:AssumeRole")
}

// harness is the portal over a real engine, accounts service and SQLite
// store, with the static source for every account but 999999999999, whose
// source fails.
type harness struct {
	t        *testing.T
	clock    *clocktest.Clock
	store    store.Store
	keys     *secret.Keys
	engine   *oauth.Engine
	accounts *accounts.Service
	audit    *events
	mux      *http.ServeMux
}

func newHarness(t *testing.T, rateLimit int) *harness {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ssooidc.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.New(bytes.Repeat([]byte{3}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	c := clocktest.New(t0)
	log := slog.New(slog.DiscardHandler)
	rec := &events{}
	engine := oauth.New(st, keys, oauth.Config{Issuer: "http://sso.test", Audit: rec}, c.Now, log)
	src := credentials.Router{
		Default:   credentials.NewStatic(st, keys, c.Now),
		ByAccount: map[string]credentials.Source{"999999999999": failing{}},
	}
	acc := accounts.New(st, keys, accounts.Config{Source: src, Audit: rec}, c.Now, log)
	mux := http.NewServeMux()
	portal.New(engine, acc, portal.Config{RateLimit: rateLimit, Now: c.Now, Log: log}).Register(mux)
	return &harness{t: t, clock: c, store: st, keys: keys, engine: engine, accounts: acc, audit: rec, mux: mux}
}

// addUser creates a user directly in the store.
func (h *harness) addUser(name string) {
	h.t.Helper()
	if err := h.store.CreateUser(h.t.Context(), store.User{ID: "id-" + name, Name: name, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		h.t.Fatalf("CreateUser(%s): %v", name, err)
	}
}

// token runs the device flow for a registered user and returns the access
// token; scopes are the client's registration scopes.
func (h *harness) token(user string, scopes ...string) oauth.TokenResponse {
	h.t.Helper()
	ctx := h.t.Context()
	c, err := h.engine.RegisterClient(ctx, oauth.RegisterRequest{ClientName: "botocore-client-test", ClientType: "public", Scopes: scopes})
	if err != nil {
		h.t.Fatalf("RegisterClient: %v", err)
	}
	d, err := h.engine.StartDeviceAuthorization(ctx, oauth.StartRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, StartURL: "http://sso.test/start"})
	if err != nil {
		h.t.Fatalf("StartDeviceAuthorization: %v", err)
	}
	if err := h.engine.DecideDevice(ctx, d.UserCode, "id-"+user, true); err != nil {
		h.t.Fatalf("DecideDevice: %v", err)
	}
	tok, err := h.engine.Token(ctx, oauth.TokenRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, GrantType: oauth.GrantDeviceCode, DeviceCode: d.DeviceCode})
	if err != nil {
		h.t.Fatalf("Token: %v", err)
	}
	return tok
}

// do sends one request through the mux, with the bearer token when not
// empty.
func (h *harness) do(method, target, token string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequestWithContext(h.t.Context(), method, target, nil)
	if token != "" {
		req.Header.Set("x-amz-sso_bearer_token", token)
	}
	rec := httptest.NewRecorder()
	h.mux.ServeHTTP(rec, req)
	return rec
}

// fixture is the standard data: accounts 111111111111 (Production, with an
// e-mail address) and 222222222222 (Sandbox, without) where alice holds
// roles, directly and through the group devs; 333333333333 where only bob
// does; 999999999999 whose source fails; fixed credentials for
// 111111111111's ReadOnly.
func (h *harness) fixture() {
	h.t.Helper()
	ctx := h.t.Context()
	h.addUser("alice")
	h.addUser("bob")
	must := func(err error) {
		h.t.Helper()
		if err != nil {
			h.t.Fatal(err)
		}
	}
	for _, a := range [][3]string{
		{"111111111111", "Production", "aws-prod@example.test"},
		{"222222222222", "Sandbox", ""},
		{"333333333333", "Billing", ""},
		{"999999999999", "Broken", ""},
	} {
		_, err := h.accounts.AddAccount(ctx, a[0], a[1], a[2])
		must(err)
	}
	_, err := h.accounts.AddGroup(ctx, "devs")
	must(err)
	must(h.accounts.AddMember(ctx, "devs", "alice"))
	alice := accounts.Principal{Type: store.PrincipalUser, Name: "alice"}
	bob := accounts.Principal{Type: store.PrincipalUser, Name: "bob"}
	devs := accounts.Principal{Type: store.PrincipalGroup, Name: "devs"}
	for _, a := range []struct {
		p       accounts.Principal
		account string
		role    string
		d       time.Duration
	}{
		{alice, "111111111111", "ReadOnly", 2 * time.Hour},
		{devs, "111111111111", "Admin", time.Hour},
		{devs, "222222222222", "Developer", 0},
		{bob, "111111111111", "Billing", time.Hour},
		{bob, "333333333333", "Billing", time.Hour},
		{alice, "999999999999", "ReadOnly", time.Hour},
	} {
		_, err := h.accounts.Assign(ctx, a.p, a.account, a.role, a.d)
		must(err)
	}
	must(h.accounts.SetStaticCredentials(ctx, "111111111111", "ReadOnly", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEXAMPLE"))
}

func accountsUser(name string) accounts.Principal {
	return accounts.Principal{Type: store.PrincipalUser, Name: name}
}
