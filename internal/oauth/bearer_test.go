package oauth_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

// deviceTokens runs the device flow through the engine's public API and
// returns the token pair alice approved.
func deviceTokens(t *testing.T, e *oauth.Engine, st store.Store, clock *clocktest.Clock) (oauth.RegisteredClient, oauth.TokenResponse) {
	t.Helper()
	ctx := t.Context()
	if err := st.CreateUser(ctx, store.User{ID: "u-alice", Name: "alice", CreatedAt: clock.Now(), UpdatedAt: clock.Now()}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	c, err := e.RegisterClient(ctx, oauth.RegisterRequest{ClientName: "cli", ClientType: "public", Scopes: []string{"sso:account:access"}})
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	d, err := e.StartDeviceAuthorization(ctx, oauth.StartRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, StartURL: "http://sso.test/start"})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization: %v", err)
	}
	if err := e.DecideDevice(ctx, d.UserCode, "u-alice", true); err != nil {
		t.Fatalf("DecideDevice: %v", err)
	}
	tok, err := e.Token(ctx, oauth.TokenRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, GrantType: oauth.GrantDeviceCode, DeviceCode: d.DeviceCode})
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return c, tok
}

func newBearerEngine(t *testing.T) (*oauth.Engine, store.Store, *clocktest.Clock) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ssooidc.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.New(bytes.Repeat([]byte{9}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC))
	e := oauth.New(st, keys, oauth.Config{Issuer: "http://sso.test"}, clock.Now, nil)
	return e, st, clock
}

func wantInvalidToken(t *testing.T, what string, err error, wantText string) {
	t.Helper()
	oe := oauth.AsError(err)
	if err == nil || oe.Kind != oauth.InvalidToken {
		t.Errorf("%s: error = %v, want an InvalidToken error", what, err)
		return
	}
	if !strings.Contains(oe.WireDescription(), wantText) {
		t.Errorf("%s: description = %q, want it to contain %q", what, oe.WireDescription(), wantText)
	}
}

func TestBearer(t *testing.T) {
	e, st, clock := newBearerEngine(t)
	c, tok := deviceTokens(t, e, st, clock)
	ctx := t.Context()

	got, err := e.Bearer(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("Bearer: %v", err)
	}
	want := oauth.BearerInfo{
		UserID:    "u-alice",
		ClientID:  c.ClientID,
		FamilyID:  got.FamilyID,
		Scopes:    []string{"sso:account:access"},
		AuthTime:  clock.Now(),
		ExpiresAt: clock.Now().Add(time.Hour),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Bearer mismatch (-want +got):\n%s", diff)
	}
	if got.FamilyID == "" || !got.HasScope("sso:account:access") || got.HasScope("openid") {
		t.Errorf("Bearer = %+v: want a family and exactly the sso:account:access scope", got)
	}

	wantInvalidToken(t, "empty token", func() error { _, err := e.Bearer(ctx, ""); return err }(), "No access token")
	wantInvalidToken(t, "unknown token", func() error { _, err := e.Bearer(ctx, "sso_at_nope"); return err }(), "not found or invalid")
	wantInvalidToken(t, "huge token", func() error { _, err := e.Bearer(ctx, strings.Repeat("x", 4096)); return err }(), "not found or invalid")
	wantInvalidToken(t, "refresh token as bearer", func() error { _, err := e.Bearer(ctx, tok.RefreshToken); return err }(), "not found or invalid")

	clock.Advance(time.Hour)
	wantInvalidToken(t, "expired token", func() error { _, err := e.Bearer(ctx, tok.AccessToken); return err }(), "expired")
}

func TestRevokeBearer(t *testing.T) {
	e, st, clock := newBearerEngine(t)
	c, tok := deviceTokens(t, e, st, clock)
	ctx := t.Context()

	wantInvalidToken(t, "revoke unknown", e.RevokeBearer(ctx, "sso_at_nope"), "not found or invalid")
	if err := e.RevokeBearer(ctx, tok.AccessToken); err != nil {
		t.Fatalf("RevokeBearer: %v", err)
	}
	wantInvalidToken(t, "after revoke", func() error { _, err := e.Bearer(ctx, tok.AccessToken); return err }(), "revoked")
	wantInvalidToken(t, "revoke twice", e.RevokeBearer(ctx, tok.AccessToken), "revoked")
	// The whole family ended: the refresh token is refused too.
	_, err := e.Token(ctx, oauth.TokenRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, GrantType: oauth.GrantRefreshToken, RefreshToken: tok.RefreshToken})
	if err == nil {
		t.Error("refresh after RevokeBearer succeeded")
	}
}

func TestInvalidTokenWireCodes(t *testing.T) {
	k := oauth.InvalidToken
	if k.RFCCode() != "invalid_token" || k.RFCStatus() != 401 || k.AWSException() != "UnauthorizedException" || k.AWSStatus() != 401 {
		t.Errorf("InvalidToken = %s %d / %s %d; want invalid_token 401 / UnauthorizedException 401",
			k.RFCCode(), k.RFCStatus(), k.AWSException(), k.AWSStatus())
	}
}
