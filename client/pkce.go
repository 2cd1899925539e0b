package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// LoopbackRedirectURI is the redirect URI a PKCE client registers: the
// loopback address without a port, which the server matches with any port
// (RFC 8252 §7.3), as the AWS CLI does.
const LoopbackRedirectURI = "http://127.0.0.1/oauth/callback"

// DefaultAuthorizeTimeout is how long AuthorizeWithPKCE waits for the
// browser by default (the AWS CLI's wait).
const DefaultAuthorizeTimeout = 10 * time.Minute

// PKCEOptions configures AuthorizeWithPKCE.
type PKCEOptions struct {
	// Scopes to request. Empty: the registration's, else sso:account:access.
	Scopes []string
	// OpenBrowser opens the authorization URL in a browser on this
	// machine. Nil: nothing is opened, and OnURL must show the URL.
	OpenBrowser func(url string) error
	// OnURL receives the authorization URL before the browser opens, so
	// that it can be shown. Optional.
	OnURL func(url string)
	// Timeout bounds the wait for the browser. Zero: 10 minutes.
	Timeout time.Duration
}

// AuthorizeWithPKCE runs the authorization code grant with PKCE (RFC 7636,
// S256) the way the AWS CLI does: it listens on a random port of
// 127.0.0.1, sends the browser to the server's /authorize (at the
// endpoint's host root), receives the code on
// http://127.0.0.1:PORT/oauth/callback, checks the state and redeems the
// code with the verifier. reg must be registered for the
// authorization_code grant with LoopbackRedirectURI.
//
// A denial in the browser is an error matching ErrAccessDenied; no answer
// within the timeout one matching ErrExpiredToken.
func (c *Client) AuthorizeWithPKCE(ctx context.Context, reg *Registration, o PKCEOptions) (*Token, error) {
	scopes := o.Scopes
	if len(scopes) == 0 {
		scopes = reg.Scopes
	}
	if len(scopes) == 0 {
		scopes = []string{ScopeAccountAccess}
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultAuthorizeTimeout
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("authorize: listening on the loopback interface: %w", err)
	}
	redirectURI := fmt.Sprintf("http://127.0.0.1:%d/oauth/callback", ln.Addr().(*net.TCPAddr).Port)
	verifier := randomString(48) // 64 characters of base64url, all RFC 7636 §4.1 unreserved
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	state := randomString(24)

	type result struct {
		code string
		err  error
	}
	results := make(chan result, 1)
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/oauth/callback" {
				http.NotFound(w, r)
				return
			}
			q := r.URL.Query()
			if q.Get("state") != state {
				// Not our request (RFC 6749 §10.12): ignore it.
				callbackPage(w, http.StatusBadRequest, "This sign-in answer is not for the waiting login (the state does not match).")
				return
			}
			var res result
			switch {
			case q.Get("error") != "":
				res.err = oauthError("Authorize", q.Get("error"), q.Get("error_description"))
				callbackPage(w, http.StatusOK, "Sign-in did not complete: "+res.err.Error()+". You can close this window.")
			case q.Get("code") != "":
				res.code = q.Get("code")
				callbackPage(w, http.StatusOK, "You are signed in. You can close this window and return to the terminal.")
			default:
				callbackPage(w, http.StatusBadRequest, "The answer has neither a code nor an error.")
				return
			}
			select {
			case results <- res:
			default:
			}
		}),
	}
	go srv.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()

	authorize := *c.endpoint
	authorize.Path, authorize.RawPath = "/authorize", "" // the host root, as the AWS CLI builds it
	q := url.Values{}
	q.Set("response_type", "code")
	q.Set("client_id", reg.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("state", state)
	q.Set("code_challenge_method", "S256")
	q.Set("scopes", strings.Join(scopes, " "))
	q.Set("code_challenge", challenge)
	authorize.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	authURL := authorize.String()

	if o.OnURL != nil {
		o.OnURL(authURL)
	}
	if o.OpenBrowser != nil {
		if err := o.OpenBrowser(authURL); err != nil {
			c.warn(fmt.Errorf("could not open a browser (%w); open the URL yourself", err))
		}
	}

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var res result
	select {
	case res = <-results:
	case <-ctx.Done():
		return nil, fmt.Errorf("authorize: waiting for the browser: %w", context.Cause(ctx))
	case <-timer.C:
		return nil, fmt.Errorf("authorize: %w: the browser did not complete the sign-in within %s", ErrExpiredToken, timeout)
	}
	if res.err != nil {
		return nil, res.err
	}
	return c.CreateToken(ctx, reg, TokenRequest{
		GrantType:    GrantAuthorizationCode,
		Code:         res.code,
		RedirectURI:  redirectURI,
		CodeVerifier: verifier,
	})
}

// oauthError builds an *Error from an RFC 6749 error code received other
// than in an HTTP answer (a redirect's query).
func oauthError(op, code, description string) *Error {
	e := &Error{Op: op, Code: code, Description: description}
	for _, k := range errorKinds {
		if k.code == code && k.exception != "" {
			e.Type = k.exception
			break
		}
	}
	return e
}

func callbackPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>ssooidc</title><p>%s</p>\n", html.EscapeString(msg))
}

// randomString is n random bytes in unpadded base64url.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}
