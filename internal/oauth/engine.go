// Package oauth is the protocol-neutral engine of ssooidc: client
// registration, the device authorization grant (RFC 8628), authorization
// codes with PKCE (RFC 6749 §4.1, RFC 7636), refresh token rotation and
// scopes. It never sees HTTP: the AWS and RFC dialects decode requests into
// the types here and turn its *Error into their own wire shape.
package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Grant type strings (AWS-WIRE.md §4.1).
const (
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	grantDeviceCodeHyphen  = "urn:ietf:params:oauth:grant-type:device-code" // AWS docs' spelling
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// Opaque value prefixes, so secret scanners can recognise a leaked one.
const (
	prefixClientSecret = "sso_cs_"
	prefixDeviceCode   = "sso_dc_"
	prefixAccessToken  = "sso_at_"
	prefixRefreshToken = "sso_rt_"
	prefixAuthCode     = "sso_ac_"
)

// Hash purposes: a value of one kind never matches a hash of another.
const (
	hashClientSecret = "client-secret"
	hashDeviceCode   = "device-code"
	hashUserCode     = "user-code"
	hashAccessToken  = "access-token"
	hashRefreshToken = "refresh-token"
	hashAuthCode     = "auth-code"
)

// slowDownStep is what RFC 8628 §3.5 adds to the interval on slow_down.
const slowDownStep = 5 * time.Second

// Config holds the engine's policy. Zero durations take the defaults below.
type Config struct {
	// Issuer is the public base URL, e.g. https://sso.example.com.
	Issuer string
	// StartURLs are the start URLs this instance serves; {Issuer}/start
	// when empty. AnyStartURL (dev mode) accepts every start URL.
	StartURLs   []string
	AnyStartURL bool

	ClientLifetime       time.Duration // registration (client secret) lifetime; 90 days
	DeviceCodeLifetime   time.Duration // 600 s
	DeviceInterval       time.Duration // 1 s
	AccessTokenLifetime  time.Duration // 1 h
	RefreshTokenLifetime time.Duration // 8 h from approval: the session length
	RefreshReuseGrace    time.Duration // 5 s; negative: off
	AuthCodeLifetime     time.Duration // 60 s

	// Audit receives the security events; nil drops them.
	Audit audit.Recorder

	// IDTokens signs ID tokens (oidc.go); nil issues none.
	IDTokens IDTokenSigner

	// Limits are the flood and guessing defences (limits.go); the zero
	// value limits nothing.
	Limits Limits
}

// WithDefaults fills zero fields with the defaults.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ClientLifetime, 90*24*time.Hour)
	def(&c.DeviceCodeLifetime, 600*time.Second)
	def(&c.DeviceInterval, time.Second)
	def(&c.AccessTokenLifetime, time.Hour)
	def(&c.RefreshTokenLifetime, 8*time.Hour)
	def(&c.RefreshReuseGrace, 5*time.Second)
	def(&c.AuthCodeLifetime, 60*time.Second)
	if c.Audit == nil {
		c.Audit = audit.Discard{}
	}
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	if len(c.StartURLs) == 0 && c.Issuer != "" {
		c.StartURLs = []string{c.Issuer + "/start"}
	}
	return c
}

// Store is what the engine needs from storage.
type Store interface {
	store.Clients
	store.DeviceGrants
	store.AuthCodes
	store.Tokens
	GetUser(ctx context.Context, id string) (store.User, error)
}

// Engine implements the grants.
type Engine struct {
	store   Store
	keys    *secret.Keys
	cfg     Config
	now     func() time.Time
	log     *slog.Logger
	clients clientCache
}

// New returns an engine. now is the clock (time.Now in production).
func New(st Store, keys *secret.Keys, cfg Config, now func() time.Time, log *slog.Logger) *Engine {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{store: st, keys: keys, cfg: cfg.WithDefaults(), now: now, log: log}
}

// Config returns the effective configuration.
func (e *Engine) Config() Config { return e.cfg }

func (e *Engine) record(ctx context.Context, t audit.Type, clientID, userID, detail string) {
	e.cfg.Audit.Record(ctx, audit.Event{Type: t, Time: e.now(), ClientID: clientID, UserID: userID, Detail: detail})
}

// ---- RegisterClient ----

// RegisterRequest is AWS RegisterClient (and dynamic registration).
type RegisterRequest struct {
	ClientName   string
	ClientType   string
	Scopes       []string
	RedirectURIs []string
	GrantTypes   []string
	IssuerURL    string
	// RequestIP is the registering client's address, for the
	// registrations-per-address limit (empty: not limited).
	RequestIP string
}

// RegisteredClient is the answer to a registration. The secret is only
// ever available here.
type RegisteredClient struct {
	ClientID     string
	ClientSecret string
	IssuedAt     time.Time
	ExpiresAt    time.Time
}

const (
	maxNameLen   = 1024
	maxListItems = 64
)

// RegisterClient validates and stores a new public client.
func (e *Engine) RegisterClient(ctx context.Context, req RegisterRequest) (RegisteredClient, error) {
	if err := e.limitRegister(ctx, req.RequestIP); err != nil {
		return RegisteredClient{}, err
	}
	if strings.TrimSpace(req.ClientName) == "" {
		return RegisteredClient{}, Errorf(InvalidRequest, "clientName must not be empty.")
	}
	if len(req.ClientName) > maxNameLen {
		return RegisteredClient{}, Errorf(InvalidRequest, "clientName is longer than %d characters.", maxNameLen)
	}
	if !validText(req.ClientName) || !validText(req.IssuerURL) {
		return RegisteredClient{}, Errorf(InvalidRequest, "clientName and issuerUrl must be valid UTF-8 text without NUL characters.")
	}
	if req.ClientType != "public" {
		return RegisteredClient{}, Errorf(InvalidClientMetadata, "clientType must be public.")
	}
	if err := checkScopes(req.Scopes); err != nil {
		return RegisteredClient{}, err
	}
	grants, err := normalizeGrantTypes(req.GrantTypes)
	if err != nil {
		return RegisteredClient{}, err
	}
	if len(req.RedirectURIs) > maxListItems {
		return RegisteredClient{}, Errorf(InvalidRedirectURI, "At most %d redirect URIs may be registered.", maxListItems)
	}
	for _, u := range req.RedirectURIs {
		if !validRedirectURI(u) {
			return RegisteredClient{}, Errorf(InvalidRedirectURI, "Redirect URI %q must be https, or http on a loopback address, without a fragment.", truncate(u, 200))
		}
	}
	if slices.Contains(grants, GrantAuthorizationCode) && len(req.RedirectURIs) == 0 {
		return RegisteredClient{}, Errorf(InvalidRedirectURI, "The authorization_code grant needs at least one redirect URI.")
	}
	if req.IssuerURL != "" && !e.servesStartURL(req.IssuerURL) {
		return RegisteredClient{}, Errorf(InvalidClientMetadata, "issuerUrl is not a start URL this instance serves.")
	}
	now := e.now()
	secretValue := secret.Token(prefixClientSecret)
	c := store.Client{
		ID:           secret.ID(18),
		SecretHash:   e.keys.Hash(hashClientSecret, secretValue),
		Name:         req.ClientName,
		Type:         "public",
		Scopes:       req.Scopes,
		GrantTypes:   grants,
		RedirectURIs: req.RedirectURIs,
		IssuerURL:    req.IssuerURL,
		CreatedAt:    now,
		ExpiresAt:    now.Add(e.cfg.ClientLifetime),
	}
	if err := e.store.CreateClient(ctx, c); err != nil {
		return RegisteredClient{}, internalError("register client", err)
	}
	e.record(ctx, audit.ClientRegistered, c.ID, "", truncate(c.Name, 64))
	return RegisteredClient{ClientID: c.ID, ClientSecret: secretValue, IssuedAt: now, ExpiresAt: c.ExpiresAt}, nil
}

func normalizeGrantTypes(in []string) ([]string, error) {
	if len(in) > maxListItems {
		return nil, Errorf(InvalidRequest, "Too many grant types.")
	}
	var out []string
	for _, g := range in {
		switch g {
		case GrantDeviceCode, grantDeviceCodeHyphen:
			g = GrantDeviceCode
		case GrantAuthorizationCode, GrantRefreshToken:
		default:
			return nil, Errorf(UnsupportedGrantType, "Grant type %q is not supported.", truncate(g, 100))
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, nil
}

func checkScopes(scopes []string) error {
	if len(scopes) > maxListItems {
		return Errorf(InvalidScope, "Too many scopes.")
	}
	for _, s := range scopes {
		if !validScopeToken(s) {
			return Errorf(InvalidScope, "Scope %q is not valid.", truncate(s, 100))
		}
	}
	return nil
}

func (e *Engine) servesStartURL(u string) bool {
	if e.cfg.AnyStartURL {
		return true
	}
	u = strings.TrimRight(u, "/")
	for _, s := range e.cfg.StartURLs {
		if strings.TrimRight(s, "/") == u {
			return true
		}
	}
	return false
}

// clientAllows reports whether a client may use a grant type. A client that
// registered no grant types is an AWS device-flow client.
func clientAllows(c store.Client, grant string) bool {
	if len(c.GrantTypes) == 0 {
		return grant == GrantDeviceCode || grant == GrantRefreshToken
	}
	return slices.Contains(c.GrantTypes, grant)
}

// authenticateClient checks a client id and secret. Client secrets are 256
// bits of randomness, so a keyed fast hash is the right verifier (a password
// hash would add cost and no safety). With noSecret (the RFC dialect's
// token_endpoint_auth_method none) the id alone identifies a public client
// (RFC 6749 §2.1, RFC 8628 §3.1) and the secret is not checked.
func (e *Engine) authenticateClient(ctx context.Context, id, secretValue string, noSecret bool) (store.Client, error) {
	c, err := e.getClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, errBadClient()
	}
	if err != nil {
		return store.Client{}, internalError("get client", err)
	}
	if noSecret {
		if c.Type != ClientPublic {
			return store.Client{}, errBadClient()
		}
	} else if subtle.ConstantTimeCompare(c.SecretHash, e.keys.Hash(hashClientSecret, secretValue)) != 1 {
		return store.Client{}, errBadClient()
	}
	if clientExpired(c, e.now()) {
		return store.Client{}, Errorf(InvalidClient, "Invalid client: the registration has expired; register again.")
	}
	return c, nil
}

// errBadClient is one answer for an unknown id and a wrong secret, so a
// caller cannot probe which client ids exist.
func errBadClient() *Error {
	return Errorf(InvalidClient, "Invalid client: unknown client id or wrong client secret.")
}

// ---- StartDeviceAuthorization ----

// StartRequest is AWS StartDeviceAuthorization (RFC 8628 §3.1).
type StartRequest struct {
	ClientID     string
	ClientSecret string
	// PublicClient: no secret was sent (RFC dialect, auth method none).
	PublicClient bool
	// StartURL: empty (RFC dialect) records the instance's first one.
	StartURL string
	// Scopes requested (RFC 8628 §3.1); none: the client's registered ones.
	Scopes []string
	// Request context shown on the consent page.
	RequestIP string
	UserAgent string
}

// DeviceAuthorization is the answer (RFC 8628 §3.2).
type DeviceAuthorization struct {
	DeviceCode              string
	UserCode                string // XXXX-XXXX
	VerificationURI         string
	VerificationURIComplete string
	ExpiresIn               time.Duration
	Interval                time.Duration
}

// StartDeviceAuthorization authenticates the client and starts a grant.
func (e *Engine) StartDeviceAuthorization(ctx context.Context, req StartRequest) (DeviceAuthorization, error) {
	if err := e.limitDeviceStart(ctx, req.RequestIP); err != nil {
		return DeviceAuthorization{}, err
	}
	c, err := e.authenticateClient(ctx, req.ClientID, req.ClientSecret, req.PublicClient)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	if !clientAllows(c, GrantDeviceCode) {
		return DeviceAuthorization{}, Errorf(UnauthorizedClient, "This client is not registered for the device code grant.")
	}
	if err := e.checkDevicePolicy(ctx, c.ID, c.Name); err != nil {
		return DeviceAuthorization{}, err
	}
	startURL, scopes, err := e.deviceRequest(c, req)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	now := e.now()
	// Collisions are astronomically rare (a 256-bit device code, a 34-bit
	// user code unique among stored grants); retry a few times anyway.
	for attempt := 0; ; attempt++ {
		deviceCode := secret.Token(prefixDeviceCode)
		userCode := newUserCode()
		g := store.DeviceGrant{
			DeviceCodeHash:   e.keys.Hash(hashDeviceCode, deviceCode),
			UserCodeHash:     e.keys.Hash(hashUserCode, userCode),
			ClientID:         c.ID,
			Scopes:           scopes,
			StartURL:         startURL,
			Status:           store.DevicePending,
			Interval:         e.cfg.DeviceInterval,
			CreatedAt:        now,
			ExpiresAt:        now.Add(e.cfg.DeviceCodeLifetime),
			RequestIP:        req.RequestIP,
			RequestUserAgent: truncate(req.UserAgent, 512),
		}
		err := e.store.CreateDeviceGrant(ctx, g)
		if errors.Is(err, store.ErrAlreadyExists) && attempt < 5 {
			continue
		}
		if err != nil {
			return DeviceAuthorization{}, internalError("create device grant", err)
		}
		shown := FormatUserCode(userCode)
		e.record(ctx, audit.DeviceStarted, c.ID, "", "user_code "+shown)
		return DeviceAuthorization{
			DeviceCode:              deviceCode,
			UserCode:                shown,
			VerificationURI:         e.cfg.Issuer + "/device",
			VerificationURIComplete: e.cfg.Issuer + "/device?user_code=" + url.QueryEscape(shown),
			ExpiresIn:               e.cfg.DeviceCodeLifetime,
			Interval:                e.cfg.DeviceInterval,
		}, nil
	}
}

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

func (e *Engine) deviceToken(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	if req.DeviceCode == "" {
		return TokenResponse{}, Errorf(InvalidRequest, "deviceCode is required for the device code grant.")
	}
	c, err := e.authenticateClient(ctx, req.ClientID, req.ClientSecret, req.PublicClient)
	if err != nil {
		return TokenResponse{}, err
	}
	if !clientAllows(c, GrantDeviceCode) {
		return TokenResponse{}, Errorf(UnauthorizedClient, "This client is not registered for the device code grant.")
	}
	now := e.now()
	codeHash := e.keys.Hash(hashDeviceCode, req.DeviceCode)
	g, outcome, err := e.store.PollDeviceGrant(ctx, codeHash, c.ID, now, slowDownStep)
	if errors.Is(err, store.ErrNotFound) {
		return TokenResponse{}, Errorf(InvalidGrant, "Invalid device code provided.")
	}
	if err != nil {
		return TokenResponse{}, internalError("poll device grant", err)
	}
	switch {
	case g.Status == store.DeviceRedeemed:
		return TokenResponse{}, Errorf(InvalidGrant, "The device code has already been used.")
	case !now.Before(g.ExpiresAt):
		e.record(ctx, audit.DeviceExpired, c.ID, g.UserID, "")
		return TokenResponse{}, Errorf(ExpiredToken, "The device code has expired.")
	case g.Status == store.DeviceDenied:
		return TokenResponse{}, Errorf(AccessDenied, "The request was denied.")
	case g.Status == store.DevicePending && outcome.SlowDown:
		return TokenResponse{}, Errorf(SlowDown, "Client is polling too fast; the interval is now %d seconds.", int(g.Interval/time.Second))
	case g.Status == store.DevicePending:
		return TokenResponse{}, Errorf(AuthorizationPending, "Authorization is still pending.")
	}
	// Approved: mint the first pair and redeem the grant in one step.
	if err := e.checkUserActive(ctx, g.UserID); err != nil {
		return TokenResponse{}, err
	}
	set, resp := e.mint(store.TokenFamily{
		ID:       secret.ID(16),
		ClientID: c.ID,
		UserID:   g.UserID,
		Scopes:   g.Scopes,
		AuthTime: g.DecidedAt,
	}, now)
	err = e.store.RedeemDeviceGrant(ctx, codeHash, set)
	if errors.Is(err, store.ErrConsumed) {
		return TokenResponse{}, Errorf(InvalidGrant, "The device code has already been used.")
	}
	if err != nil {
		return TokenResponse{}, internalError("redeem device grant", err)
	}
	e.record(ctx, audit.DeviceRedeemed, c.ID, g.UserID, "")
	e.record(ctx, audit.TokenIssued, c.ID, g.UserID, GrantDeviceCode)
	return resp, nil
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
	access := secret.Token(prefixAccessToken)
	refresh := secret.Token(prefixRefreshToken)
	accessExp := now.Add(e.cfg.AccessTokenLifetime)
	if accessExp.After(fam.ExpiresAt) {
		accessExp = fam.ExpiresAt
	}
	set := store.TokenSet{
		Family:  fam,
		Access:  store.AccessToken{Hash: e.keys.Hash(hashAccessToken, access), FamilyID: fam.ID, CreatedAt: now, ExpiresAt: accessExp},
		Refresh: store.RefreshToken{Hash: e.keys.Hash(hashRefreshToken, refresh), FamilyID: fam.ID, CreatedAt: now, ExpiresAt: fam.ExpiresAt},
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
	oldHash := e.keys.Hash(hashRefreshToken, req.RefreshToken)
	// The family id and session end are filled from the stored family; the
	// pair is minted against a provisional family and re-dated below.
	_, fam, err := e.store.GetRefreshToken(ctx, oldHash)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return TokenResponse{}, Errorf(InvalidGrant, "Invalid refresh token provided.")
		}
		return TokenResponse{}, internalError("get refresh token", err)
	}
	if err := e.checkUserActive(ctx, fam.UserID); err != nil {
		if oe := AsError(err); oe.Kind == InvalidGrant {
			_ = e.store.RevokeTokenFamily(ctx, fam.ID, now)
		}
		return TokenResponse{}, err
	}
	set, resp := e.mint(fam, now)
	grace := e.cfg.RefreshReuseGrace
	if grace < 0 {
		grace = 0
	}
	_, err = e.store.RotateRefreshToken(ctx, oldHash, c.ID, now, grace, set)
	switch {
	case err == nil:
		e.record(ctx, audit.TokenRefreshed, c.ID, fam.UserID, "")
		return resp, nil
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
	codeHash := e.keys.Hash(hashAuthCode, req.Code)
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

// ---- Device verification (the browser side) ----

// DevicePrompt is what the consent page shows about a pending request.
type DevicePrompt struct {
	UserCode           string // XXXX-XXXX
	ClientName         string
	ClientRegisteredAt time.Time
	Scopes             []string
	ExpiresAt          time.Time
	RequestIP          string
	RequestUserAgent   string
}

// errBadUserCode is the one answer for a code that is malformed, unknown,
// expired or already decided: a guesser learns nothing about valid codes.
func errBadUserCode() *Error {
	return Errorf(InvalidGrant, "The code is not valid or has expired.")
}

// DevicePrompt looks up a pending, live grant by the code a person typed.
func (e *Engine) DevicePrompt(ctx context.Context, typed string) (DevicePrompt, error) {
	code, ok := NormalizeUserCode(typed)
	if !ok {
		return DevicePrompt{}, errBadUserCode()
	}
	g, err := e.store.GetDeviceGrantByUserCode(ctx, e.keys.Hash(hashUserCode, code))
	if errors.Is(err, store.ErrNotFound) {
		return DevicePrompt{}, errBadUserCode()
	}
	if err != nil {
		return DevicePrompt{}, internalError("get device grant", err)
	}
	if g.Status != store.DevicePending || !e.now().Before(g.ExpiresAt) {
		return DevicePrompt{}, errBadUserCode()
	}
	c, err := e.store.GetClient(ctx, g.ClientID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return DevicePrompt{}, errBadUserCode()
		}
		return DevicePrompt{}, internalError("get client", err)
	}
	return DevicePrompt{
		UserCode:           FormatUserCode(code),
		ClientName:         c.Name,
		ClientRegisteredAt: c.CreatedAt,
		Scopes:             g.Scopes,
		ExpiresAt:          g.ExpiresAt,
		RequestIP:          g.RequestIP,
		RequestUserAgent:   g.RequestUserAgent,
	}, nil
}

// DecideDevice approves or denies the pending grant with that user code on
// behalf of userID.
func (e *Engine) DecideDevice(ctx context.Context, typed, userID string, approve bool) error {
	code, ok := NormalizeUserCode(typed)
	if !ok {
		return errBadUserCode()
	}
	g, err := e.store.DecideDeviceGrant(ctx, e.keys.Hash(hashUserCode, code), userID, approve, e.now())
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConsumed), errors.Is(err, store.ErrExpired):
		return errBadUserCode()
	case err != nil:
		return internalError("decide device grant", err)
	}
	t := audit.DeviceDenied
	if approve {
		t = audit.DeviceApproved
	}
	e.record(ctx, t, g.ClientID, userID, "user_code "+FormatUserCode(code))
	return nil
}

// ---- Authorization endpoint (RFC 6749 §4.1.1, RFC 7636) ----

// AuthorizeRequest is the query of GET /authorize.
type AuthorizeRequest struct {
	ResponseType        string
	ClientID            string
	RedirectURI         string
	State               string
	CodeChallenge       string
	CodeChallengeMethod string
	Scopes              []string
	Nonce               string
}

// Authorization is a validated authorization request.
type Authorization struct {
	AuthorizeRequest
	ClientName         string
	ClientRegisteredAt time.Time
}

// CheckAuthorize validates an authorization request. On error, the returned
// Authorization has RedirectURI set only when the client and redirect URI
// are valid, so the error may be sent there (RFC 6749 §4.1.2.1); otherwise
// the error must be shown to the person, never redirected.
func (e *Engine) CheckAuthorize(ctx context.Context, req AuthorizeRequest) (Authorization, error) {
	if req.ClientID == "" {
		return Authorization{}, Errorf(InvalidRequest, "client_id is required.")
	}
	c, err := e.store.GetClient(ctx, req.ClientID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && clientExpired(c, e.now())) {
		return Authorization{}, Errorf(InvalidClient, "Unknown or expired client.")
	}
	if err != nil {
		return Authorization{}, internalError("get client", err)
	}
	if req.RedirectURI == "" || !slices.ContainsFunc(c.RedirectURIs, func(r string) bool { return MatchRedirectURI(r, req.RedirectURI) }) {
		return Authorization{}, Errorf(InvalidRequest, "redirect_uri is not registered for this client.")
	}
	a := Authorization{AuthorizeRequest: req, ClientName: c.Name, ClientRegisteredAt: c.CreatedAt}
	switch {
	case req.ResponseType != "code":
		return a, Errorf(UnsupportedResponseType, "response_type must be code.")
	case !clientAllows(c, GrantAuthorizationCode):
		return a, Errorf(UnauthorizedClient, "This client is not registered for the authorization code grant.")
	case req.CodeChallenge == "" && req.CodeChallengeMethod == "" && c.Type == ClientConfidential:
		// PKCE is optional for a client that authenticates with its secret.
	case req.CodeChallenge == "":
		return a, Errorf(InvalidRequest, "code_challenge is required.")
	case req.CodeChallengeMethod != "S256":
		return a, Errorf(InvalidRequest, "code_challenge_method must be S256.")
	case !validCodeChallenge(req.CodeChallenge):
		return a, Errorf(InvalidRequest, "code_challenge is not a valid S256 challenge.")
	}
	if !validText(req.Nonce) || len(req.Nonce) > maxNameLen {
		return a, Errorf(InvalidRequest, "nonce must be valid text of at most %d bytes.", maxNameLen)
	}
	if len(a.Scopes) == 0 {
		a.Scopes = c.Scopes
	}
	if err := checkScopes(a.Scopes); err != nil {
		return a, err
	}
	if len(c.Scopes) > 0 {
		for _, s := range a.Scopes {
			if !slices.Contains(c.Scopes, s) {
				return a, Errorf(InvalidScope, "Scope %q was not registered by this client.", truncate(s, 100))
			}
		}
	}
	return a, nil
}

// IssueAuthCode records the person's approval of a checked request and
// returns the code to send to the redirect URI.
func (e *Engine) IssueAuthCode(ctx context.Context, a Authorization, userID string, authTime time.Time) (string, error) {
	now := e.now()
	code := secret.Token(prefixAuthCode)
	err := e.store.CreateAuthCode(ctx, store.AuthCode{
		CodeHash:      e.keys.Hash(hashAuthCode, code),
		ClientID:      a.ClientID,
		UserID:        userID,
		RedirectURI:   a.RedirectURI,
		CodeChallenge: a.CodeChallenge,
		Scopes:        a.Scopes,
		Nonce:         a.Nonce,
		AuthTime:      authTime,
		CreatedAt:     now,
		ExpiresAt:     now.Add(e.cfg.AuthCodeLifetime),
	})
	if err != nil {
		return "", internalError("create auth code", err)
	}
	e.record(ctx, audit.CodeApproved, a.ClientID, userID, "")
	return code, nil
}

// DenyAuthorization records that the person denied a checked request; the
// caller redirects access_denied to the client.
func (e *Engine) DenyAuthorization(ctx context.Context, a Authorization, userID string) {
	e.record(ctx, audit.CodeDenied, a.ClientID, userID, "")
}

// validText: what every backend can store as text (PostgreSQL refuses NUL
// and invalid UTF-8).
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// truncate shortens s to at most n bytes, on a character boundary, for
// echoing user input in a description.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// String helps logs; it never includes secrets.
func (r TokenRequest) String() string {
	return fmt.Sprintf("TokenRequest{client=%s grant=%s}", r.ClientID, r.GrantType)
}
