package oauth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/store"
)

// BearerInfo is what an access token presented as a bearer credential
// stands for: the person, the client it was issued to and its session
// (token family).
type BearerInfo struct {
	UserID    string
	ClientID  string
	FamilyID  string
	Scopes    []string
	AuthTime  time.Time // when the person approved the session
	ExpiresAt time.Time // when this access token expires
}

// HasScope reports whether the token was granted scope.
func (b BearerInfo) HasScope(scope string) bool { return slices.Contains(b.Scopes, scope) }

// maxAccessTokenLen bounds what is hashed and looked up: ours are about 50
// bytes, so anything much longer cannot be one.
const maxAccessTokenLen = 512

// Bearer checks an access token presented by a resource server's caller
// (the SSO portal's x-amz-sso_bearer_token, an OIDC userinfo request) and
// returns what it stands for. A missing, unknown, expired or revoked token,
// or one whose session has ended, is an InvalidToken error (RFC 6750 §3.1;
// the portal's UnauthorizedException); any other failure is Internal.
func (e *Engine) Bearer(ctx context.Context, accessToken string) (BearerInfo, error) {
	if accessToken == "" {
		return BearerInfo{}, Errorf(InvalidToken, "No access token was sent.")
	}
	if len(accessToken) > maxAccessTokenLen {
		return BearerInfo{}, errUnknownToken()
	}
	at, fam, err := e.store.GetAccessToken(ctx, e.keys.OrderedHash(hashAccessToken, prefixAccessToken, accessToken))
	if errors.Is(err, store.ErrNotFound) {
		return BearerInfo{}, errUnknownToken()
	}
	if err != nil {
		return BearerInfo{}, internalError("get access token", err)
	}
	now := e.now()
	switch {
	case !fam.RevokedAt.IsZero():
		return BearerInfo{}, Errorf(InvalidToken, "Session token has been revoked; sign in again.")
	case !now.Before(at.ExpiresAt), !fam.ExpiresAt.IsZero() && !now.Before(fam.ExpiresAt):
		return BearerInfo{}, Errorf(InvalidToken, "Session token has expired; sign in again.")
	}
	return BearerInfo{
		UserID:    fam.UserID,
		ClientID:  fam.ClientID,
		FamilyID:  fam.ID,
		Scopes:    fam.Scopes,
		AuthTime:  fam.AuthTime,
		ExpiresAt: at.ExpiresAt,
	}, nil
}

// errUnknownToken is AWS's answer to a token it does not know.
func errUnknownToken() *Error {
	return Errorf(InvalidToken, "Session token not found or invalid")
}

// RevokeBearer ends the session an access token belongs to: its whole token
// family, so the refresh token stops working too (the SSO portal's Logout).
// The token must be valid, as for Bearer.
func (e *Engine) RevokeBearer(ctx context.Context, accessToken string) error {
	b, err := e.Bearer(ctx, accessToken)
	if err != nil {
		return err
	}
	if err := e.store.RevokeTokenFamily(ctx, b.FamilyID, e.now()); err != nil {
		return internalError("revoke token family", err)
	}
	e.record(ctx, audit.TokenRevoked, b.ClientID, b.UserID, "logout")
	return nil
}
