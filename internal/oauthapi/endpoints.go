package oauthapi

import (
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
)

// deviceAuthorizationResponse is RFC 8628 §3.2.
type deviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// deviceAuthorization is POST /oauth2/device_authorization (RFC 8628 §3.1).
// The scope parameter must name scopes the client registered, when it
// registered any; without it the grant gets the registered scopes.
func (a *API) deviceAuthorization(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r, deviceAuthorizationParams)
	if err != nil {
		return err
	}
	c, err := clientAuth(r, form)
	if err != nil {
		return err
	}
	d, err := a.engine.StartDeviceAuthorization(r.Context(), oauth.StartRequest{
		ClientID:     c.id,
		ClientSecret: c.secret,
		PublicClient: c.secret == "",
		Scopes:       strings.Fields(form.Get(paramScope)),
		RequestIP:    clientIP(r),
		UserAgent:    r.UserAgent(),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, deviceAuthorizationResponse{
		DeviceCode:              d.DeviceCode,
		UserCode:                d.UserCode,
		VerificationURI:         d.VerificationURI,
		VerificationURIComplete: d.VerificationURIComplete,
		ExpiresIn:               seconds(d.ExpiresIn),
		// Rounded up: an interval of 0 would make clients poll in a loop.
		Interval: seconds(d.Interval + time.Second - 1),
	})
}

// tokenResponse is RFC 6749 §5.1, with the OIDC id_token.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// requiredFor names the parameter each grant cannot do without.
var requiredFor = map[string]string{
	oauth.GrantDeviceCode:        paramDeviceCode,
	oauth.GrantAuthorizationCode: paramCode,
	oauth.GrantRefreshToken:      paramRefreshToken,
}

// token is POST /oauth2/token: the device code (RFC 8628 §3.4),
// authorization code (RFC 6749 §4.1.3, RFC 7636 §4.5) and refresh token
// (RFC 6749 §6) grants. A scope parameter is ignored: a grant's tokens
// always carry the scopes it was approved with.
func (a *API) token(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r, tokenParams)
	if err != nil {
		return err
	}
	grant := form.Get(paramGrantType)
	if grant == "" {
		return oauth.Errorf(oauth.InvalidRequest, "grant_type is required.")
	}
	if p, ok := requiredFor[grant]; ok && !form.Has(p) {
		return oauth.Errorf(oauth.InvalidRequest, "%s is required for the %s grant.", p, grant)
	}
	c, err := clientAuth(r, form)
	if err != nil {
		return err
	}
	t, err := a.engine.Token(r.Context(), oauth.TokenRequest{
		ClientID:     c.id,
		ClientSecret: c.secret,
		PublicClient: c.secret == "",
		GrantType:    grant,
		DeviceCode:   form.Get(paramDeviceCode),
		Code:         form.Get(paramCode),
		RedirectURI:  form.Get(paramRedirectURI),
		CodeVerifier: form.Get(paramCodeVerifier),
		RefreshToken: form.Get(paramRefreshToken),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, tokenResponse{
		AccessToken:  t.AccessToken,
		TokenType:    t.TokenType,
		ExpiresIn:    seconds(t.ExpiresIn),
		RefreshToken: t.RefreshToken,
		Scope:        joinScopes(t.Scopes),
		IDToken:      t.IDToken,
	})
}

// userinfo is GET and POST /oauth2/userinfo (OpenID Connect Core §5.3)
// with a bearer access token granted openid; errors follow RFC 6750 §3.
func (a *API) userinfo(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	tok, sent, err := bearerToken(w, r)
	if err == nil && !sent {
		err = oauth.Errorf(oauth.InvalidToken, "No access token was sent.")
	}
	if err != nil {
		a.writeBearerError(w, r, "userinfo", err, sent)
		return
	}
	claims, err := a.engine.UserInfo(r.Context(), tok)
	if err != nil {
		a.writeBearerError(w, r, "userinfo", err, true)
		return
	}
	if err := writeJSON(w, claims); err != nil {
		a.writeBearerError(w, r, "userinfo", err, true)
	}
}

// revoke is POST /oauth2/revoke (RFC 7009 §2): 200 with an empty body for
// any token the client may revoke, known or not.
func (a *API) revoke(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r, tokenManagementParams)
	if err != nil {
		return err
	}
	c, err := clientAuth(r, form)
	if err != nil {
		return err
	}
	if err := a.engine.Revoke(r.Context(), oauth.RevokeRequest{
		ClientID:      c.id,
		ClientSecret:  c.secret,
		PublicClient:  c.secret == "",
		Token:         form.Get(paramToken),
		TokenTypeHint: form.Get(paramTokenTypeHint),
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// introspectionResponse is RFC 7662 §2.2. token_type is "Bearer" for an
// access token and "refresh_token" for a refresh token.
type introspectionResponse struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Iss       string `json:"iss,omitempty"`
}

// introspect is POST /oauth2/introspect (RFC 7662 §2): authenticated
// clients only; {"active":false} for anything unknown, expired or revoked.
func (a *API) introspect(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r, tokenManagementParams)
	if err != nil {
		return err
	}
	c, err := clientAuth(r, form)
	if err != nil {
		return err
	}
	in, err := a.engine.Introspect(r.Context(), oauth.IntrospectRequest{
		ClientID:      c.id,
		ClientSecret:  c.secret,
		PublicClient:  c.secret == "",
		Token:         form.Get(paramToken),
		TokenTypeHint: form.Get(paramTokenTypeHint),
	})
	if err != nil {
		return err
	}
	if !in.Active {
		return writeJSON(w, introspectionResponse{})
	}
	tokenType := "Bearer"
	if in.TokenType == oauth.TokenTypeRefresh {
		tokenType = oauth.TokenTypeRefresh
	}
	return writeJSON(w, introspectionResponse{
		Active:    true,
		Scope:     joinScopes(in.Scopes),
		ClientID:  in.ClientID,
		Username:  in.Username,
		TokenType: tokenType,
		Exp:       in.ExpiresAt.Unix(),
		Iat:       in.IssuedAt.Unix(),
		Sub:       in.UserID,
		Iss:       a.engine.Config().Issuer,
	})
}

// clientIP is the address recorded for the consent page: the middleware's
// view (which knows trusted proxies), else the peer.
func clientIP(r *http.Request) string {
	if ip := reqinfo.From(r.Context()).ClientIP; ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// seconds converts a duration to whole seconds, truncating and clamping.
func seconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	switch {
	case s < 0:
		return 0
	case s > math.MaxInt32:
		return math.MaxInt32
	}
	return s
}
