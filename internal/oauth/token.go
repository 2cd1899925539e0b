package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// ---- CreateToken ----

// TokenRequest is AWS CreateToken (RFC 6749 §4.1.3, §6; RFC 8628 §3.4).
type TokenRequest struct {
	ClientID     string
	ClientSecret string
	GrantType    string
	DeviceCode   string
	Code         string
	RedirectURI  string
	CodeVerifier string
	RefreshToken string
	// PublicClient: no secret was sent (RFC dialect, auth method none);
	// allowed for public clients, which then must use PKCE for codes.
	PublicClient bool
}

// TokenResponse is a successful token answer.
type TokenResponse struct {
	AccessToken  string
	RefreshToken string
	TokenType    string
	ExpiresIn    time.Duration
	Scopes       []string
	// IDToken is set when the scopes include openid (oidc.go).
	IDToken string

	grant grantInfo // what the ID token says
}

// Token runs the grant the request names.
func (e *Engine) Token(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	resp, err := e.grant(ctx, req)
	if err != nil {
		return TokenResponse{}, err
	}
	return e.withIDToken(ctx, resp)
}

func (e *Engine) grant(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	switch req.GrantType {
	case GrantDeviceCode, grantDeviceCodeHyphen:
		return e.deviceToken(ctx, req)
	case GrantRefreshToken:
		return e.refreshToken(ctx, req)
	case GrantAuthorizationCode:
		return e.authCodeToken(ctx, req)
	default:
		return TokenResponse{}, Errorf(UnsupportedGrantType, "Grant type %q is not supported.", truncate(req.GrantType, 100))
	}
}

func (e *Engine) checkUserActive(ctx context.Context, userID string) error {
	u, err := e.store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(InvalidGrant, "The user no longer exists.")
	}
	if err != nil {
		return internalError("get user", err)
	}
	if u.Disabled {
		return Errorf(InvalidGrant, "The user is disabled.")
	}
	return nil
}

// mint creates a token pair. A new family (fam.CreatedAt zero) starts a
// session ending RefreshTokenLifetime after the approval; the access token
// never outlives the session.
func (e *Engine) mint(fam store.TokenFamily, now time.Time) (store.TokenSet, TokenResponse) {
	if fam.CreatedAt.IsZero() {
		fam.CreatedAt = now
		if fam.AuthTime.IsZero() {
			fam.AuthTime = now
		}
		fam.ExpiresAt = fam.AuthTime.Add(e.cfg.RefreshTokenLifetime)
		if fam.ExpiresAt.Before(now) {
			fam.ExpiresAt = now.Add(e.cfg.RefreshTokenLifetime)
		}
	}
	access := secret.OrderedToken(prefixAccessToken, now)
	refresh := secret.OrderedToken(prefixRefreshToken, now)
	accessExp := now.Add(e.cfg.AccessTokenLifetime)
	if accessExp.After(fam.ExpiresAt) {
		accessExp = fam.ExpiresAt
	}
	set := store.TokenSet{
		Family:  fam,
		Access:  store.AccessToken{Hash: e.keys.OrderedHash(hashAccessToken, prefixAccessToken, access), FamilyID: fam.ID, CreatedAt: now, ExpiresAt: accessExp},
		Refresh: store.RefreshToken{Hash: e.keys.OrderedHash(hashRefreshToken, prefixRefreshToken, refresh), FamilyID: fam.ID, CreatedAt: now, ExpiresAt: fam.ExpiresAt},
	}
	return set, TokenResponse{
		AccessToken:  access,
		RefreshToken: refresh,
		TokenType:    "Bearer",
		ExpiresIn:    accessExp.Sub(now).Truncate(time.Second),
		Scopes:       fam.Scopes,
		grant: grantInfo{clientID: fam.ClientID, userID: fam.UserID, scopes: fam.Scopes,
			authTime: fam.AuthTime, issuedAt: now, expires: accessExp},
	}
}

func (e *Engine) refreshToken(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	if req.RefreshToken == "" {
		return TokenResponse{}, Errorf(InvalidRequest, "refreshToken is required for the refresh token grant.")
	}
	c, err := e.authenticateClient(ctx, req.ClientID, req.ClientSecret, req.PublicClient)
	if err != nil {
		return TokenResponse{}, err
	}
	if !clientAllows(c, GrantRefreshToken) {
		return TokenResponse{}, Errorf(UnauthorizedClient, "This client is not registered for the refresh token grant.")
	}
	now := e.now()
	oldHash := e.keys.OrderedHash(hashRefreshToken, prefixRefreshToken, req.RefreshToken)
	grace := e.cfg.RefreshReuseGrace
	if grace < 0 {
		grace = 0
	}
	// The store reads the token, its family and its user in the rotation's
	// own transaction and mints the pair there, against the family.
	var resp TokenResponse
	fam, err := e.store.RotateRefreshToken(ctx, oldHash, c.ID, now, grace, func(fam store.TokenFamily) store.TokenSet {
		var set store.TokenSet
		set, resp = e.mint(fam, now)
		return set
	})
	switch {
	case err == nil:
		e.record(ctx, audit.TokenRefreshed, c.ID, fam.UserID, "")
		return resp, nil
	case errors.Is(err, store.ErrUserDisabled):
		return TokenResponse{}, Errorf(InvalidGrant, "The user is disabled.")
	case errors.Is(err, store.ErrUserGone):
		return TokenResponse{}, Errorf(InvalidGrant, "The user no longer exists.")
	case errors.Is(err, store.ErrReused):
		e.record(ctx, audit.TokenReused, c.ID, fam.UserID, "family revoked")
		return TokenResponse{}, Errorf(InvalidGrant, "Invalid refresh token provided.")
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrRevoked), errors.Is(err, store.ErrExpired):
		return TokenResponse{}, Errorf(InvalidGrant, "Invalid refresh token provided.")
	default:
		return TokenResponse{}, internalError("rotate refresh token", err)
	}
}

func (e *Engine) authCodeToken(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	if req.Code == "" {
		return TokenResponse{}, Errorf(InvalidRequest, "code is required for the authorization code grant.")
	}
	c, err := e.authenticateClient(ctx, req.ClientID, req.ClientSecret, req.PublicClient)
	if err != nil {
		return TokenResponse{}, err
	}
	if !clientAllows(c, GrantAuthorizationCode) {
		return TokenResponse{}, Errorf(UnauthorizedClient, "This client is not registered for the authorization code grant.")
	}
	now := e.now()
	codeHash := e.keys.OrderedHash(hashAuthCode, prefixAuthCode, req.Code)
	ac, err := e.store.GetAuthCode(ctx, codeHash)
	if errors.Is(err, store.ErrNotFound) {
		return TokenResponse{}, Errorf(InvalidGrant, "Invalid authorization code provided.")
	}
	if err != nil {
		return TokenResponse{}, internalError("get auth code", err)
	}
	switch {
	case ac.ClientID != c.ID:
		return TokenResponse{}, Errorf(InvalidGrant, "Invalid authorization code provided.")
	case !now.Before(ac.ExpiresAt):
		return TokenResponse{}, Errorf(InvalidGrant, "The authorization code has expired.")
	case req.RedirectURI != ac.RedirectURI:
		// RFC 6749 §4.1.3: identical to the authorization request's value.
		return TokenResponse{}, Errorf(InvalidGrant, "redirectUri does not match the authorization request.")
	case ac.CodeChallenge == "" && (req.CodeVerifier != "" || req.PublicClient):
		// No challenge (a confidential client's choice): a verifier now
		// would be a downgrade (RFC 9700 §2.1.1), and a client without a
		// secret has nothing else to prove it is the one that asked.
		return TokenResponse{}, Errorf(InvalidGrant, "The authorization request had no code challenge.")
	case ac.CodeChallenge != "" && !VerifyPKCE(ac.CodeChallenge, req.CodeVerifier):
		return TokenResponse{}, Errorf(InvalidGrant, "The code verifier does not match the code challenge.")
	}
	if err := e.checkUserActive(ctx, ac.UserID); err != nil {
		return TokenResponse{}, err
	}
	set, resp := e.mint(store.TokenFamily{
		ID:       secret.ID(16),
		ClientID: c.ID,
		UserID:   ac.UserID,
		Scopes:   ac.Scopes,
		AuthTime: ac.AuthTime,
	}, now)
	err = e.store.ConsumeAuthCode(ctx, codeHash, now, set)
	if errors.Is(err, store.ErrConsumed) {
		e.record(ctx, audit.CodeReused, c.ID, ac.UserID, "tokens of the first use revoked")
		return TokenResponse{}, Errorf(InvalidGrant, "The authorization code has already been used.")
	}
	if err != nil {
		return TokenResponse{}, internalError("consume auth code", err)
	}
	e.record(ctx, audit.TokenIssued, c.ID, ac.UserID, GrantAuthorizationCode)
	resp.grant.nonce = ac.Nonce
	return resp, nil
}

// String helps logs; it never includes secrets.
func (r TokenRequest) String() string {
	return fmt.Sprintf("TokenRequest{client=%s grant=%s}", r.ClientID, r.GrantType)
}
