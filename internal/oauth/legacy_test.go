package oauth_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// TestValuesIssuedBeforeOrderedTokens: device codes and tokens issued
// before they led with their issue time (32 random bytes, stored as the
// keyed hash of the whole value) keep working after an upgrade: the device
// code polls and redeems, the access token authorizes, the refresh token
// rotates into a new pair.
func TestValuesIssuedBeforeOrderedTokens(t *testing.T) {
	e, st, clock := newBearerEngine(t)
	c, tok := deviceTokens(t, e, st, clock)
	ctx := t.Context()
	keys, err := secret.New(bytes.Repeat([]byte{9}, secret.KeySize)) // newBearerEngine's key
	if err != nil {
		t.Fatal(err)
	}

	// A device grant started by the earlier release.
	legacyCode := secret.Token("sso_dc_")
	const userCode = "BCDFGHJK"
	now := clock.Now()
	if err := st.CreateDeviceGrant(ctx, store.DeviceGrant{
		DeviceCodeHash: keys.Hash("device-code", legacyCode), UserCodeHash: keys.Hash("user-code", userCode),
		ClientID: c.ClientID, Scopes: []string{"sso:account:access"}, StartURL: "http://sso.test/start",
		Status: store.DevicePending, Interval: 5 * time.Second, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
		RequestIP: "192.0.2.1",
	}); err != nil {
		t.Fatalf("CreateDeviceGrant: %v", err)
	}
	poll := oauth.TokenRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, GrantType: oauth.GrantDeviceCode, DeviceCode: legacyCode}
	if _, err := e.Token(ctx, poll); oauth.AsError(err).Kind != oauth.AuthorizationPending {
		t.Fatalf("poll with an earlier device code: %v, want AuthorizationPending", err)
	}
	if err := e.DecideDevice(ctx, userCode, "u-alice", true); err != nil {
		t.Fatalf("DecideDevice: %v", err)
	}
	clock.Advance(10 * time.Second)
	if _, err := e.Token(ctx, poll); err != nil {
		t.Fatalf("redeem an earlier device code: %v", err)
	}

	// A token pair issued by the earlier release: rotate the family's
	// refresh token into a pair stored the earlier way.
	legacyAccess, legacyRefresh := secret.Token("sso_at_"), secret.Token("sso_rt_")
	current := keys.OrderedHash("refresh-token", "sso_rt_", tok.RefreshToken)
	if _, err := st.RotateRefreshToken(ctx, current, c.ClientID, clock.Now(), 0, func(f store.TokenFamily) store.TokenSet {
		return store.TokenSet{Family: f,
			Access:  store.AccessToken{Hash: keys.Hash("access-token", legacyAccess), FamilyID: f.ID, CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour)},
			Refresh: store.RefreshToken{Hash: keys.Hash("refresh-token", legacyRefresh), FamilyID: f.ID, CreatedAt: clock.Now(), ExpiresAt: f.ExpiresAt},
		}
	}); err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	if b, err := e.Bearer(ctx, legacyAccess); err != nil || b.UserID != "u-alice" {
		t.Errorf("Bearer(earlier access token) = %+v, %v; want alice's", b, err)
	}
	next, err := e.Token(ctx, oauth.TokenRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, GrantType: oauth.GrantRefreshToken, RefreshToken: legacyRefresh})
	if err != nil {
		t.Fatalf("refresh with an earlier refresh token: %v", err)
	}
	if _, err := e.Bearer(ctx, next.AccessToken); err != nil {
		t.Errorf("Bearer(access token from that refresh): %v", err)
	}
	if len(next.RefreshToken) == len(legacyRefresh) {
		t.Errorf("the new refresh token %q has the earlier form", next.RefreshToken)
	}
}
