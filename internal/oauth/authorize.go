package oauth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

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
	code := secret.OrderedToken(prefixAuthCode, now)
	err := e.store.CreateAuthCode(ctx, store.AuthCode{
		CodeHash:      e.keys.OrderedHash(hashAuthCode, prefixAuthCode, code),
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
