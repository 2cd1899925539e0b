package oauthapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/ssooidc/ssooidc/internal/oauth"
)

// maxFormBytes bounds a request body. The largest legitimate request, a
// token request with a code verifier, is well under 1 KiB.
const maxFormBytes = 16 << 10

// Parameter names (RFC 6749, RFC 7009, RFC 7636, RFC 7662, RFC 8628).
const (
	paramClientID      = "client_id"
	paramClientSecret  = "client_secret"
	paramGrantType     = "grant_type"
	paramCode          = "code"
	paramRedirectURI   = "redirect_uri"
	paramCodeVerifier  = "code_verifier"
	paramRefreshToken  = "refresh_token"
	paramDeviceCode    = "device_code"
	paramScope         = "scope"
	paramToken         = "token"
	paramTokenTypeHint = "token_type_hint"
	paramAccessToken   = "access_token"
)

// The parameters each endpoint reads: none may be repeated. Others are
// ignored (RFC 6749 §3.1).
var (
	deviceAuthorizationParams = []string{paramClientID, paramClientSecret, paramScope}
	tokenParams               = []string{paramClientID, paramClientSecret, paramGrantType, paramCode, paramRedirectURI,
		paramCodeVerifier, paramRefreshToken, paramDeviceCode, paramScope}
	tokenManagementParams = []string{paramClientID, paramClientSecret, paramToken, paramTokenTypeHint}
	userinfoParams        = []string{paramAccessToken}
)

// readForm reads a size-limited application/x-www-form-urlencoded body
// (RFC 6749 §3.2: POST with form parameters). A missing Content-Type is
// read as a form; another media type is refused. Query parameters are
// never read: credentials do not belong in URLs.
func readForm(w http.ResponseWriter, r *http.Request, names []string) (url.Values, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, oauth.Errorf(oauth.InvalidRequest, "The request body must be application/x-www-form-urlencoded.")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, oauth.Errorf(oauth.InvalidRequest, "The request body is too large.")
		}
		return nil, &oauth.Error{Kind: oauth.InvalidRequest, Description: "The request body could not be read.", Err: err}
	}
	return parseForm(body, names)
}

// parseForm decodes a form body. Every failure is InvalidRequest: bad
// percent-encoding, a parameter that is not valid UTF-8 text without
// control characters (nothing here legitimately has them, and no backend
// stores NUL), or one of names given more than once (RFC 6749 §3.1). An
// empty value counts as omitted (§3.1), so it is dropped.
func parseForm(body []byte, names []string) (url.Values, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oauth.Errorf(oauth.InvalidRequest, "The request body is not valid form encoding.")
	}
	for _, n := range names {
		if len(v[n]) > 1 {
			return nil, oauth.Errorf(oauth.InvalidRequest, "%s is given more than once.", n)
		}
		if len(v[n]) == 1 && !validParam(v[n][0]) {
			return nil, oauth.Errorf(oauth.InvalidRequest, "%s must be text without control characters.", n)
		}
		if len(v[n]) == 1 && v[n][0] == "" {
			delete(v, n)
		}
	}
	return v, nil
}

// validParam: valid UTF-8 without C0 controls or DEL.
func validParam(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// client is how a request authenticated its client (RFC 6749 §2.3.1).
type client struct {
	id     string
	secret string // empty: none (a public client's id alone)
}

// clientAuth reads the client's credentials: HTTP Basic (client_secret_basic,
// the id and secret form-urlencoded before base64), or client_id and
// client_secret in the body (client_secret_post), or client_id alone
// (none). Using both Basic and client_secret is refused (§2.3: one method
// per request); a client_id in the body beside Basic must name the same
// client (x/oauth2 sends both).
func clientAuth(r *http.Request, form url.Values) (client, error) {
	switch h := r.Header.Values("Authorization"); {
	case len(h) > 1:
		return client{}, oauth.Errorf(oauth.InvalidRequest, "The Authorization header is given more than once.")
	case len(h) == 1:
		user, pass, ok := r.BasicAuth()
		if !ok {
			return client{}, oauth.Errorf(oauth.InvalidClient, "Client authentication must use HTTP Basic or client_secret in the body.")
		}
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || !validParam(id) || !validParam(secret) {
			return client{}, oauth.Errorf(oauth.InvalidClient, "The Basic credentials are not valid form-encoded text.")
		}
		if form.Has(paramClientSecret) {
			return client{}, oauth.Errorf(oauth.InvalidRequest, "Use one client authentication method: HTTP Basic or client_secret, not both.")
		}
		if cid := form.Get(paramClientID); cid != "" && cid != id {
			return client{}, oauth.Errorf(oauth.InvalidRequest, "client_id does not match the Basic credentials.")
		}
		if id == "" {
			return client{}, oauth.Errorf(oauth.InvalidClient, "The Basic credentials name no client.")
		}
		return client{id: id, secret: secret}, nil
	}
	id := form.Get(paramClientID)
	if id == "" {
		return client{}, oauth.Errorf(oauth.InvalidClient, "Client authentication failed: no client_id.")
	}
	return client{id: id, secret: form.Get(paramClientSecret)}, nil
}

// bearerToken finds an RFC 6750 bearer token: the Authorization header
// (§2.1) or, in a form POST, the access_token parameter (§2.2); not the
// query (§2.3, discouraged). sent is false when the request carries none;
// using two methods is invalid_request (§2).
func bearerToken(w http.ResponseWriter, r *http.Request) (token string, sent bool, err error) {
	h := r.Header.Values("Authorization")
	if len(h) > 1 {
		return "", true, oauth.Errorf(oauth.InvalidRequest, "The Authorization header is given more than once.")
	}
	if len(h) == 1 {
		scheme, rest, _ := strings.Cut(h[0], " ")
		if strings.EqualFold(scheme, "Bearer") {
			token = strings.TrimSpace(rest)
			sent = true
		}
	}
	if r.Method == http.MethodPost {
		form, err := readForm(w, r, userinfoParams)
		if err != nil {
			return "", sent, err
		}
		if t := form.Get(paramAccessToken); t != "" {
			if sent {
				return "", true, oauth.Errorf(oauth.InvalidRequest, "Send the access token once: in the Authorization header or the body, not both.")
			}
			token, sent = t, true
		}
	}
	if sent && token == "" {
		return "", true, oauth.Errorf(oauth.InvalidToken, "The access token is empty.")
	}
	return token, sent, nil
}
