package oauth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Client types (RFC 6749 §2.1). AWS RegisterClient creates public clients:
// they hold a secret, but may also identify themselves by client id alone
// where the RFC dialect allows it ("none"). Confidential clients, added by
// an administrator, always authenticate with their secret.
const (
	ClientPublic       = "public"
	ClientConfidential = "confidential"
)

// clientExpired reports whether a registration has expired at now; a
// client without an expiry (an administrator's) never does.
func clientExpired(c store.Client, now time.Time) bool {
	return !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt)
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// ConfidentialClientRequest is what an administrator registers with
// `ssooidc client add`.
type ConfidentialClientRequest struct {
	Name         string
	RedirectURIs []string
	// GrantTypes default to authorization_code and refresh_token.
	GrantTypes []string
	// Scopes the client may request; empty allows any.
	Scopes []string
}

// AddConfidentialClient registers a confidential client that never
// expires. The secret is generated here and returned once; only its keyed
// hash is stored.
func (e *Engine) AddConfidentialClient(ctx context.Context, req ConfidentialClientRequest) (RegisteredClient, error) {
	if strings.TrimSpace(req.Name) == "" || len(req.Name) > maxNameLen || !validText(req.Name) {
		return RegisteredClient{}, Errorf(InvalidClientMetadata, "The client name must be non-empty text of at most %d bytes.", maxNameLen)
	}
	if err := checkScopes(req.Scopes); err != nil {
		return RegisteredClient{}, err
	}
	grantTypes := req.GrantTypes
	if len(grantTypes) == 0 {
		grantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	grants, err := normalizeGrantTypes(grantTypes)
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
	now := e.now()
	secretValue := secret.Token(prefixClientSecret)
	c := store.Client{
		ID:           secret.ID(18),
		SecretHash:   e.keys.Hash(hashClientSecret, secretValue),
		Name:         req.Name,
		Type:         ClientConfidential,
		Scopes:       req.Scopes,
		GrantTypes:   grants,
		RedirectURIs: req.RedirectURIs,
		CreatedAt:    now,
	}
	if err := e.store.CreateClient(ctx, c); err != nil {
		return RegisteredClient{}, internalError("add client", err)
	}
	e.record(ctx, audit.ClientRegistered, c.ID, "", truncate(c.Name, 64))
	return RegisteredClient{ClientID: c.ID, ClientSecret: secretValue, IssuedAt: now}, nil
}

// deviceRequest resolves what a device authorization records: the start
// URL (the RFC dialect sends none: the instance's first start URL stands
// in) and the scopes (none requested: the client's registered scopes;
// otherwise a subset of them when it registered any, RFC 8628 §3.1).
func (e *Engine) deviceRequest(c store.Client, req StartRequest) (startURL string, scopes []string, err error) {
	startURL = req.StartURL
	if startURL == "" && len(e.cfg.StartURLs) > 0 {
		startURL = e.cfg.StartURLs[0]
	}
	if !validText(startURL) || len(startURL) > maxNameLen || !e.servesStartURL(startURL) {
		return "", nil, Errorf(InvalidRequest, "startUrl is not a start URL this instance serves.")
	}
	if len(req.Scopes) == 0 {
		return startURL, c.Scopes, nil
	}
	if err := checkScopes(req.Scopes); err != nil {
		return "", nil, err
	}
	if len(c.Scopes) > 0 {
		for _, s := range req.Scopes {
			if !slices.Contains(c.Scopes, s) {
				return "", nil, Errorf(InvalidScope, "Scope %q was not registered by this client.", truncate(s, 100))
			}
		}
	}
	return startURL, dedupe(req.Scopes), nil
}

// dedupe returns the strings of in without repeats, in order.
func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
