package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// RegistrationReuseMargin: a cached registration is used until this long
// before it expires (as the AWS CLI does).
const RegistrationReuseMargin = 15 * time.Minute

// DefaultMinValidity is how long a token from Token stays valid at least;
// a cached token closer to its expiry is refreshed first (botocore's
// advisory refresh window).
const DefaultMinValidity = 15 * time.Minute

// LoginOptions configures Login.
type LoginOptions struct {
	// UseDeviceCode selects the device authorization grant. Otherwise an
	// sso-session signs in with the authorization code grant and PKCE; a
	// legacy session (no name) always uses the device grant, as in the
	// AWS CLI.
	UseDeviceCode bool
	// OpenBrowser opens a URL in a browser (OpenSystemBrowser, or a test's
	// driver). Nil: nothing is opened; the URL reaches OnDeviceCode or
	// OnAuthorizeURL only.
	OpenBrowser func(url string) error
	// OnDeviceCode shows the verification URL and user code before the
	// browser opens (device grant).
	OnDeviceCode func(*DeviceAuthorization)
	// OnAuthorizeURL shows the authorization URL before the browser opens
	// (PKCE).
	OnAuthorizeURL func(url string)
	// ClientName is sent to RegisterClient. Empty: "ssooidc-client-" and
	// the session name.
	ClientName string
	// AuthorizeTimeout bounds the PKCE wait for the browser (default 10
	// minutes). The device grant ends when its code expires.
	AuthorizeTimeout time.Duration
}

// Login signs in for s and writes the token to the cache, where the AWS
// CLI and SDKs find it. It reuses a cached client registration until 15
// minutes before it expires, and registers again once when the server no
// longer knows the client (InvalidClientException).
func (c *Client) Login(ctx context.Context, s Session, o LoginOptions) (*CachedToken, error) {
	if s.StartURL == "" {
		return nil, errors.New("login: the session has no start URL (sso_start_url)")
	}
	if s.Region == "" {
		s.Region = c.region
	}
	pkce := s.Name != "" && !o.UseDeviceCode
	reg, cached, err := c.registration(ctx, s, o, pkce, false)
	if err != nil {
		return nil, err
	}
	var tok *Token
	if pkce {
		if cached {
			if err := c.checkRegistration(ctx, reg); errors.Is(err, ErrInvalidClient) {
				if reg, _, err = c.registration(ctx, s, o, pkce, true); err != nil {
					return nil, err
				}
			} else if err != nil {
				return nil, err
			}
		}
		tok, err = c.AuthorizeWithPKCE(ctx, reg, PKCEOptions{
			Scopes:      reg.Scopes,
			OpenBrowser: o.OpenBrowser,
			OnURL:       o.OnAuthorizeURL,
			Timeout:     o.AuthorizeTimeout,
		})
	} else {
		var da *DeviceAuthorization
		da, err = c.StartDeviceAuthorization(ctx, reg, s.StartURL)
		if cached && errors.Is(err, ErrInvalidClient) {
			if reg, _, err = c.registration(ctx, s, o, pkce, true); err != nil {
				return nil, err
			}
			da, err = c.StartDeviceAuthorization(ctx, reg, s.StartURL)
		}
		if err != nil {
			return nil, err
		}
		if o.OnDeviceCode != nil {
			o.OnDeviceCode(da)
		}
		if o.OpenBrowser != nil {
			u := da.VerificationURIComplete
			if u == "" {
				u = da.VerificationURI
			}
			if err := o.OpenBrowser(u); err != nil {
				c.warn(fmt.Errorf("could not open a browser (%w); open the URL yourself", err))
			}
		}
		tok, err = c.PollToken(ctx, reg, da)
	}
	if err != nil {
		return nil, err
	}
	ct := &CachedToken{
		StartURL:              s.StartURL,
		Region:                s.Region,
		AccessToken:           tok.AccessToken,
		ExpiresAt:             tok.ExpiresAt,
		ClientID:              reg.ClientID,
		ClientSecret:          reg.ClientSecret,
		RegistrationExpiresAt: reg.ExpiresAt,
		RefreshToken:          tok.RefreshToken,
	}
	if err := c.Cache().WriteToken(s, ct); err != nil {
		return nil, fmt.Errorf("login: saving the token: %w", err)
	}
	return ct, nil
}

// registration returns a usable registration for s and the flow, from the
// cache unless fresh is set, else a new one (then cached). cached reports
// whether it came from the cache.
func (c *Client) registration(ctx context.Context, s Session, o LoginOptions, pkce, fresh bool) (reg *Registration, cached bool, err error) {
	cache := c.Cache()
	if fresh {
		cache.removeRegistration(s)
	} else if r, err := cache.readRegistration(s); err == nil &&
		(r.ExpiresAt.IsZero() || c.now().Add(RegistrationReuseMargin).Before(r.ExpiresAt)) &&
		slices.Contains(r.GrantTypes, GrantAuthorizationCode) == pkce {
		return r, true, nil
	}
	req := RegisterRequest{ClientName: o.ClientName, Scopes: s.Scopes}
	if req.ClientName == "" {
		req.ClientName = "ssooidc-client-" + strings.NewReplacer("/", "-", ":", "-").Replace(s.cacheKey())
		if s.Name == "" {
			req.ClientName = fmt.Sprintf("ssooidc-client-%d", c.now().Unix())
		}
	}
	if req.Scopes == nil && s.Name != "" {
		req.Scopes = []string{ScopeAccountAccess}
	}
	if pkce {
		req.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
		req.RedirectURIs = []string{LoopbackRedirectURI}
		req.IssuerURL = s.StartURL
	}
	reg, err = c.Register(ctx, req)
	if err != nil {
		return nil, false, err
	}
	if err := cache.writeRegistration(s, reg); err != nil {
		c.warn(fmt.Errorf("caching the client registration: %w", err))
	}
	return reg, false, nil
}

// checkRegistration asks the server whether it still knows a cached
// client before a browser is sent to it: a token request with a code that
// cannot exist fails with InvalidClientException for an unknown client and
// with another error (InvalidGrantException) for a known one.
func (c *Client) checkRegistration(ctx context.Context, reg *Registration) error {
	_, err := c.CreateToken(ctx, reg, TokenRequest{
		GrantType:    GrantAuthorizationCode,
		Code:         "ssooidc-registration-check",
		RedirectURI:  LoopbackRedirectURI,
		CodeVerifier: randomString(48),
	})
	switch {
	case err == nil, errors.Is(err, ErrInvalidClient), errors.Is(err, ErrUnreachable), ctx.Err() != nil:
		return err
	default:
		return nil
	}
}

// Token returns the cached token of s, valid for at least minValidity
// (zero: DefaultMinValidity); a token closer to its expiry is refreshed
// first and the cache rewritten. When refreshing fails but the cached
// token is still valid, that token is returned and the failure goes to
// Options.Warn. No token, or an expired one that cannot be refreshed, is an
// error matching ErrLoginRequired.
func (c *Client) Token(ctx context.Context, s Session, minValidity time.Duration) (*CachedToken, error) {
	if minValidity <= 0 {
		minValidity = DefaultMinValidity
	}
	cache := c.Cache()
	t, err := cache.ReadToken(s)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no cached token for %s", ErrLoginRequired, s)
	}
	if err != nil {
		return nil, err
	}
	now := c.now()
	if t.ExpiresAt.Sub(now) > minValidity {
		return t, nil
	}
	valid := now.Before(t.ExpiresAt)
	var why string
	switch {
	case t.RefreshToken == "" || t.ClientID == "" || t.ClientSecret == "":
		why = "it has no refresh token"
	case !t.RegistrationExpiresAt.IsZero() && !now.Before(t.RegistrationExpiresAt):
		why = "its client registration expired at " + t.RegistrationExpiresAt.Format(time.RFC3339)
	}
	if why != "" {
		if valid {
			return t, nil
		}
		return nil, fmt.Errorf("%w: the token for %s expired at %s and cannot be refreshed: %s", ErrLoginRequired, s, t.ExpiresAt.Local().Format(time.RFC3339), why)
	}
	nt, err := c.Refresh(ctx, &Registration{ClientID: t.ClientID, ClientSecret: t.ClientSecret}, t.RefreshToken)
	if err != nil {
		if valid {
			c.warn(fmt.Errorf("could not refresh the token for %s, using the cached one (valid until %s): %w", s, t.ExpiresAt.Local().Format(time.RFC3339), err))
			return t, nil
		}
		if errors.Is(err, ErrInvalidGrant) || errors.Is(err, ErrInvalidClient) {
			return nil, fmt.Errorf("%w: the session for %s has ended: %w", ErrLoginRequired, s, err)
		}
		return nil, err
	}
	t.AccessToken = nt.AccessToken
	t.ExpiresAt = nt.ExpiresAt
	if nt.RefreshToken != "" {
		t.RefreshToken = nt.RefreshToken
	}
	if err := cache.WriteToken(s, t); err != nil {
		return nil, fmt.Errorf("saving the refreshed token: %w", err)
	}
	return t, nil
}

// LogoutResult says what Logout did.
type LogoutResult struct {
	// Path is the token file; Removed reports that it existed and is gone.
	Path    string
	Removed bool
	// Revoked reports that the server revoked the token; RevokeErr says
	// why not (ErrRevocationUnsupported, ErrUnreachable, …).
	Revoked   bool
	RevokeErr error
}

// Logout revokes the cached token of s at the server, best effort, and
// removes it from the cache. The error is only about the local removal.
func (c *Client) Logout(ctx context.Context, s Session) (LogoutResult, error) {
	cache := c.Cache()
	res := LogoutResult{Path: cache.TokenPath(s)}
	t, err := cache.ReadToken(s)
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	if err == nil {
		res.RevokeErr = c.Revoke(ctx, t)
		res.Revoked = res.RevokeErr == nil
	} else {
		res.RevokeErr = err
	}
	if err := cache.RemoveToken(s); err != nil {
		return res, fmt.Errorf("logout: %w", err)
	}
	res.Removed = true
	return res, nil
}

// Revoke ends a token's session at the server: the SSO portal's Logout
// (POST /logout with the x-amz-sso_bearer_token header, which AWS offers),
// else RFC 7009 revocation at /oauth2/revoke. A server that offers
// neither gives an error matching ErrRevocationUnsupported. A token the
// server no longer accepts counts as revoked.
func (c *Client) Revoke(ctx context.Context, t *CachedToken) error {
	resp, _, err := c.post(ctx, "Logout", c.portal.String()+"/logout", http.Header{"x-amz-sso_bearer_token": {t.AccessToken}}, nil)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode/100 == 2, resp.StatusCode == http.StatusUnauthorized:
		return nil
	case resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed:
		return fmt.Errorf("Logout: HTTP %d from %s", resp.StatusCode, c.portal.Host)
	}
	form := url.Values{"client_id": {t.ClientID}, "client_secret": {t.ClientSecret}}
	if t.RefreshToken != "" {
		form.Set("token", t.RefreshToken)
		form.Set("token_type_hint", "refresh_token")
	} else {
		form.Set("token", t.AccessToken)
		form.Set("token_type_hint", "access_token")
	}
	resp, body, err := c.post(ctx, "Revoke", c.endpoint.String()+"/oauth2/revoke",
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(form.Encode()))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return fmt.Errorf("%w (no POST /logout or /oauth2/revoke at %s)", ErrRevocationUnsupported, c.endpoint.Host)
	default:
		return parseError("Revoke", resp, body)
	}
}
