package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
)

// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636
// §4.3). The AWS CLI sends `scopes` (plural, space-separated); the
// standard `scope` is accepted too.
const (
	paramResponseType  = "response_type"
	paramClientID      = "client_id"
	paramRedirectURI   = "redirect_uri"
	paramState         = "state"
	paramChallenge     = "code_challenge"
	paramChallengeMeth = "code_challenge_method"
	paramScopes        = "scopes"
	paramScope         = "scope"
	paramNonce         = "nonce"
)

var authorizeParams = []string{paramResponseType, paramClientID, paramRedirectURI, paramState, paramChallenge, paramChallengeMeth, paramScopes, paramScope, paramNonce}

func authorizeRequest(v url.Values) oauth.AuthorizeRequest {
	scopes := v.Get(paramScopes)
	if scopes == "" {
		scopes = v.Get(paramScope)
	}
	return oauth.AuthorizeRequest{
		ResponseType:        v.Get(paramResponseType),
		ClientID:            v.Get(paramClientID),
		RedirectURI:         v.Get(paramRedirectURI),
		State:               v.Get(paramState),
		CodeChallenge:       v.Get(paramChallenge),
		CodeChallengeMethod: v.Get(paramChallengeMeth),
		Scopes:              strings.Fields(scopes),
		Nonce:               v.Get(paramNonce),
	}
}

// repeated returns the first authorization parameter given more than once
// (RFC 6749 §3.1: "Request and response parameters MUST NOT be included
// more than once").
func repeated(v url.Values) string {
	for _, p := range authorizeParams {
		if len(v[p]) > 1 {
			return p
		}
	}
	return ""
}

// checkAuthorize validates the request carried by v.
func (h *Handler) checkAuthorize(r *http.Request, v url.Values) (oauth.Authorization, error) {
	if p := repeated(v); p == paramClientID || p == paramRedirectURI {
		// Which redirect URI would be meant is unclear: never redirect.
		return oauth.Authorization{}, oauth.Errorf(oauth.InvalidRequest, "%s is given more than once.", p)
	}
	a, err := h.engine.CheckAuthorize(r.Context(), authorizeRequest(v))
	if err == nil {
		if p := repeated(v); p != "" {
			return a, oauth.Errorf(oauth.InvalidRequest, "%s is given more than once.", p)
		}
	}
	return a, err
}

// authorizeError answers a failed authorization request. When the client
// and redirect URI are not both valid the error is shown and never
// redirected (RFC 6749 §4.1.2.1); otherwise it goes to the client.
func (h *Handler) authorizeError(w http.ResponseWriter, r *http.Request, a oauth.Authorization, err error) error {
	oe := oauth.AsError(err)
	if oe.Kind == oauth.Internal {
		return err
	}
	ctx := r.Context()
	h.cfg.Log.InfoContext(ctx, "authorization request refused", "request_id", reqinfo.From(ctx).ID,
		"client_id", truncate(a.ClientID, 64), "error", oe.Kind.RFCCode(), "description", oe.Description)
	if a.RedirectURI == "" {
		return &pageError{
			status:  http.StatusBadRequest,
			title:   "This sign-in link is not valid",
			message: "The application that sent you here made a request this server cannot accept: " + oe.WireDescription() + " Start the sign-in again from the application.",
		}
	}
	return redirectToClient(w, r, a, url.Values{"error": {oe.Kind.RFCCode()}, "error_description": {oe.WireDescription()}})
}

// redirectToClient sends the browser to the client's redirect URI with
// params and the state appended to any query the URI already has.
func redirectToClient(w http.ResponseWriter, r *http.Request, a oauth.Authorization, params url.Values) error {
	if a.State != "" {
		params.Set("state", a.State)
	}
	target := a.RedirectURI
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
		if strings.HasSuffix(target, "?") || strings.HasSuffix(target, "&") {
			sep = ""
		}
	}
	http.Redirect(w, r, target+sep+params.Encode(), http.StatusSeeOther)
	return nil
}

type authorizeConsentPage struct {
	common
	ClientName  string
	Registered  string
	Scopes      []string
	Destination string
	CSRF        string
	Fields      []hiddenField
}

type hiddenField struct{ Name, Value string }

// authorizeFields are the request's parameters, carried through the
// consent form; the decision re-validates them.
func authorizeFields(a oauth.Authorization) []hiddenField {
	f := []hiddenField{
		{paramResponseType, a.ResponseType},
		{paramClientID, a.ClientID},
		{paramRedirectURI, a.RedirectURI},
		{paramChallenge, a.CodeChallenge},
		{paramChallengeMeth, a.CodeChallengeMethod},
		{paramScopes, strings.Join(a.Scopes, " ")},
	}
	if a.State != "" {
		f = append(f, hiddenField{paramState, a.State})
	}
	if a.Nonce != "" {
		f = append(f, hiddenField{paramNonce, a.Nonce})
	}
	return f
}

func authorizeURL(a oauth.Authorization) string {
	v := url.Values{}
	for _, f := range authorizeFields(a) {
		v.Set(f.Name, f.Value)
	}
	return "/authorize?" + v.Encode()
}

// authorize is GET /authorize, the authorization endpoint (RFC 6749
// §4.1.1) at the host root, where the AWS CLI sends the browser.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) error {
	a, err := h.checkAuthorize(r, authorizeParamsOf(r))
	if err != nil {
		return h.authorizeError(w, r, a, err)
	}
	s, err := h.session(r)
	if err != nil {
		return err
	}
	if s == nil {
		next := authorizeURL(a)
		if len(next) > maxNextLen {
			return h.authorizeError(w, r, a, oauth.Errorf(oauth.InvalidRequest, "The request is too long."))
		}
		return toSignIn(w, r, next)
	}
	if origin := originOf(a.RedirectURI); origin != "" {
		allowFormTarget(w, origin)
	}
	dest := a.RedirectURI
	if u, err := url.Parse(a.RedirectURI); err == nil {
		dest = u.Scheme + "://" + u.Host
	}
	return h.render(w, http.StatusOK, "authorize_consent", authorizeConsentPage{
		common:      common{Title: "Approve " + a.ClientName + "?", User: s.name},
		ClientName:  a.ClientName,
		Registered:  whenAgo(a.ClientRegisteredAt, h.cfg.Now()),
		Scopes:      a.Scopes,
		Destination: dest,
		CSRF:        h.dir.CSRFToken(s.cookie),
		Fields:      authorizeFields(a),
	})
}

// authorizeDecide is POST /authorize/decide: the person's answer, sent to
// the client as a code (RFC 6749 §4.1.2) or access_denied (§4.1.2.1).
func (h *Handler) authorizeDecide(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s, err := h.session(r)
	if err != nil {
		return err
	}
	if s != nil {
		if err := h.checkCSRF(r, s.cookie); err != nil {
			return err
		}
	}
	a, err := h.checkAuthorize(r, r.PostForm)
	if err != nil {
		return h.authorizeError(w, r, a, err)
	}
	if s == nil {
		// The session ended while the page was open: sign in again, then
		// see the same request.
		return toSignIn(w, r, authorizeURL(a))
	}
	info := reqinfo.From(ctx)
	switch r.PostForm.Get("action") {
	case "allow":
		code, err := h.engine.IssueAuthCode(ctx, a, s.userID, s.authTime)
		if err != nil {
			return err
		}
		h.cfg.Log.InfoContext(ctx, "authorization approved", "request_id", info.ID, "client_id", a.ClientID, "user_id", s.userID)
		return redirectToClient(w, r, a, url.Values{"code": {code}})
	case "deny":
		h.cfg.Log.InfoContext(ctx, "authorization denied", "request_id", info.ID, "client_id", a.ClientID, "user_id", s.userID)
		h.engine.DenyAuthorization(ctx, a, s.userID)
		return redirectToClient(w, r, a, url.Values{"error": {"access_denied"}})
	default:
		return &pageError{status: http.StatusBadRequest, title: "Bad request", message: "Choose Allow or Deny.", link: authorizeURL(a)}
	}
}

// originOf returns scheme://host[:port] of an http(s) URI for use in a CSP
// source list, or "" when it cannot be written there safely.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	for i := 0; i < len(u.Host); i++ {
		c := u.Host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return ""
		}
	}
	return u.Scheme + "://" + u.Host
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
