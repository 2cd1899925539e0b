package oauth

import (
	"context"
	"slices"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

// OpenID Connect scopes (OpenID Connect Core §3.1.2.1, §5.4).
const (
	ScopeOpenID  = "openid"
	ScopeEmail   = "email"
	ScopeProfile = "profile"
)

// IDTokenSigner signs ID tokens: claims is a JSON-marshalable object, the
// answer a compact JWS. keys.Manager implements it.
type IDTokenSigner interface {
	SignJWT(ctx context.Context, claims any) (string, error)
}

// grantInfo is who and what a token response is for: what the ID token
// says. mint fills it; the authorization code grant adds the nonce.
type grantInfo struct {
	clientID string
	userID   string
	scopes   []string
	authTime time.Time
	issuedAt time.Time
	expires  time.Time // the access token's expiry: the ID token's too
	nonce    string
}

// idTokenClaims is an ID token (OpenID Connect Core §2, §5.1). email and
// name claims are present when the email and profile scopes were granted
// and the directory has a value.
type idTokenClaims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Audience          string `json:"aud"`
	Expiry            int64  `json:"exp"`
	IssuedAt          int64  `json:"iat"`
	AuthTime          int64  `json:"auth_time"`
	Nonce             string `json:"nonce,omitempty"`
	Email             string `json:"email,omitempty"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
}

// withIDToken adds an ID token to a successful token response when the
// grant includes the openid scope and the engine has a signer. The tokens
// are already stored: a failure here is an internal error, and the client
// starts over.
func (e *Engine) withIDToken(ctx context.Context, resp TokenResponse) (TokenResponse, error) {
	g := resp.grant
	if e.cfg.IDTokens == nil || !slices.Contains(g.scopes, ScopeOpenID) {
		return resp, nil
	}
	claims := idTokenClaims{
		Issuer:   e.cfg.Issuer,
		Subject:  g.userID,
		Audience: g.clientID,
		Expiry:   g.expires.Unix(),
		IssuedAt: g.issuedAt.Unix(),
		AuthTime: g.authTime.Unix(),
		Nonce:    g.nonce,
	}
	if slices.Contains(g.scopes, ScopeEmail) || slices.Contains(g.scopes, ScopeProfile) {
		u, err := e.store.GetUser(ctx, g.userID)
		if err != nil {
			return TokenResponse{}, internalError("get user", err)
		}
		c := userClaims(u, g.scopes)
		claims.Email, claims.Name, claims.PreferredUsername = c.Email, c.Name, c.PreferredUsername
	}
	tok, err := e.cfg.IDTokens.SignJWT(ctx, claims)
	if err != nil {
		return TokenResponse{}, internalError("sign ID token", err)
	}
	resp.IDToken = tok
	return resp, nil
}

// UserClaims are the standard claims about a person that the scopes
// release (OpenID Connect Core §5.1, §5.4).
type UserClaims struct {
	Subject           string `json:"sub"`
	Email             string `json:"email,omitempty"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
}

func userClaims(u store.User, scopes []string) UserClaims {
	c := UserClaims{Subject: u.ID}
	if slices.Contains(scopes, ScopeEmail) {
		c.Email = u.Email
	}
	if slices.Contains(scopes, ScopeProfile) {
		c.Name = u.DisplayName
		if c.Name == "" {
			c.Name = u.Name
		}
		c.PreferredUsername = u.Name
	}
	return c
}

// UserInfo answers the OpenID Connect UserInfo endpoint (OpenID Connect
// Core §5.3) for a bearer access token: a token granted the openid scope,
// of a person who is still active. A missing, unknown, expired or revoked
// token is InvalidToken; one without openid is InsufficientScope.
func (e *Engine) UserInfo(ctx context.Context, accessToken string) (UserClaims, error) {
	b, err := e.Bearer(ctx, accessToken)
	if err != nil {
		return UserClaims{}, err
	}
	if !b.HasScope(ScopeOpenID) {
		return UserClaims{}, Errorf(InsufficientScope, "The access token was not granted the openid scope.")
	}
	u, err := e.store.GetUser(ctx, b.UserID)
	switch {
	case err == nil && !u.Disabled:
		return userClaims(u, b.Scopes), nil
	case err == nil, isNotFound(err):
		return UserClaims{}, Errorf(InvalidToken, "The person this token was issued to can no longer sign in.")
	default:
		return UserClaims{}, internalError("get user", err)
	}
}
