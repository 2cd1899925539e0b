package oauth

import (
	"context"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Token type hints (RFC 7009 §2.1, RFC 7662 §2.1) and the types
// Introspection reports.
const (
	TokenTypeAccess  = "access_token"
	TokenTypeRefresh = "refresh_token"
)

// IntrospectRequest is an RFC 7662 §2.1 introspection request.
type IntrospectRequest struct {
	ClientID     string
	ClientSecret string
	// PublicClient: no secret was sent. Introspection needs one.
	PublicClient  bool
	Token         string
	TokenTypeHint string // where to look first; any other value is ignored
}

// Introspection is what the engine knows about a token (RFC 7662 §2.2).
// Only Active is meaningful when it is false.
type Introspection struct {
	Active    bool
	TokenType string // TokenTypeAccess or TokenTypeRefresh
	ClientID  string // the client the token was issued to
	UserID    string
	Username  string
	Scopes    []string
	AuthTime  time.Time
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Introspect tells an authenticated client whether a token is active: an
// access or refresh token of either dialect, not expired, its family not
// revoked or ended, its person still enabled, and for a refresh token not
// yet exchanged. A confidential client (a resource server) may introspect
// any access token; refresh tokens, which only ever go back to the client
// they were issued to, and every token of a public client, only by that
// client. Anything else, unknown tokens included, is inactive (RFC 7662
// §2.2): never an error.
func (e *Engine) Introspect(ctx context.Context, req IntrospectRequest) (Introspection, error) {
	if req.PublicClient {
		return Introspection{}, Errorf(InvalidClient, "Introspection requires client authentication.")
	}
	c, err := e.authenticateClient(ctx, req.ClientID, req.ClientSecret, false)
	if err != nil {
		return Introspection{}, err
	}
	if req.Token == "" {
		return Introspection{}, Errorf(InvalidRequest, "token is required.")
	}
	t, err := e.findToken(ctx, req.Token, req.TokenTypeHint)
	if err != nil || !t.found {
		return Introspection{}, err
	}
	now := e.now()
	fam := t.family
	switch {
	case fam.ClientID != c.ID && (c.Type != ClientConfidential || t.kind == TokenTypeRefresh),
		!fam.RevokedAt.IsZero(),
		!fam.ExpiresAt.IsZero() && !now.Before(fam.ExpiresAt),
		!now.Before(t.expiresAt),
		!t.rotatedAt.IsZero():
		return Introspection{}, nil
	}
	u, err := e.store.GetUser(ctx, fam.UserID)
	if isNotFound(err) || err == nil && u.Disabled {
		return Introspection{}, nil
	}
	if err != nil {
		return Introspection{}, internalError("get user", err)
	}
	return Introspection{
		Active:    true,
		TokenType: t.kind,
		ClientID:  fam.ClientID,
		UserID:    fam.UserID,
		Username:  u.Name,
		Scopes:    fam.Scopes,
		AuthTime:  fam.AuthTime,
		IssuedAt:  t.issuedAt,
		ExpiresAt: t.expiresAt,
	}, nil
}

// RevokeRequest is an RFC 7009 §2.1 revocation request.
type RevokeRequest struct {
	ClientID     string
	ClientSecret string
	// PublicClient: no secret was sent (allowed for public clients).
	PublicClient  bool
	Token         string
	TokenTypeHint string
}

// Revoke revokes the token's whole family, so that the access and refresh
// tokens descended from the same grant stop working in both dialects (RFC
// 7009 §2.1 allows revoking the refresh token with its access tokens and
// the reverse). An unknown, expired or already revoked token is not an
// error (§2.2); another client's token is refused.
func (e *Engine) Revoke(ctx context.Context, req RevokeRequest) error {
	c, err := e.authenticateClient(ctx, req.ClientID, req.ClientSecret, req.PublicClient)
	if err != nil {
		return err
	}
	switch req.TokenTypeHint {
	case "", TokenTypeAccess, TokenTypeRefresh:
	default:
		return Errorf(UnsupportedTokenType, "Only access and refresh tokens can be revoked.")
	}
	if req.Token == "" {
		return Errorf(InvalidRequest, "token is required.")
	}
	t, err := e.findToken(ctx, req.Token, req.TokenTypeHint)
	if err != nil || !t.found {
		return err
	}
	if t.family.ClientID != c.ID {
		return Errorf(UnauthorizedClient, "The token was not issued to this client.")
	}
	if !t.family.RevokedAt.IsZero() {
		return nil
	}
	if err := e.store.RevokeTokenFamily(ctx, t.family.ID, e.now()); err != nil && !isNotFound(err) {
		return internalError("revoke token family", err)
	}
	e.record(ctx, audit.TokenRevoked, c.ID, t.family.UserID, t.kind)
	return nil
}

// foundToken is an access or refresh token and its family.
type foundToken struct {
	found     bool
	kind      string // TokenTypeAccess or TokenTypeRefresh
	family    store.TokenFamily
	issuedAt  time.Time
	expiresAt time.Time
	rotatedAt time.Time
}

// findToken looks a token up as the hint says first, then as the other
// type (RFC 7009 §2.1, RFC 7662 §2.1). Not found is not an error.
func (e *Engine) findToken(ctx context.Context, value, hint string) (foundToken, error) {
	if len(value) > maxAccessTokenLen {
		return foundToken{}, nil
	}
	order := []string{TokenTypeAccess, TokenTypeRefresh}
	if hint == TokenTypeRefresh {
		order = []string{TokenTypeRefresh, TokenTypeAccess}
	}
	for _, kind := range order {
		var t foundToken
		var err error
		if kind == TokenTypeAccess {
			var at store.AccessToken
			at, t.family, err = e.store.GetAccessToken(ctx, e.keys.OrderedHash(hashAccessToken, prefixAccessToken, value))
			t.issuedAt, t.expiresAt = at.CreatedAt, at.ExpiresAt
		} else {
			var rt store.RefreshToken
			rt, t.family, err = e.store.GetRefreshToken(ctx, e.keys.OrderedHash(hashRefreshToken, prefixRefreshToken, value))
			t.issuedAt, t.expiresAt, t.rotatedAt = rt.CreatedAt, rt.ExpiresAt, rt.RotatedAt
		}
		switch {
		case err == nil:
			t.found, t.kind = true, kind
			return t, nil
		case !isNotFound(err):
			return foundToken{}, internalError("get "+kind, err)
		}
	}
	return foundToken{}, nil
}
