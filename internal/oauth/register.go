package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

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
