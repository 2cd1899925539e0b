// Package oauthapi serves the standard OAuth 2.0 and OpenID Connect dialect
// beside the AWS one, for every client that is not an AWS SDK: Go programs
// using golang.org/x/oauth2, resource servers, Kubernetes, web apps with an
// OIDC library.
//
//	GET      /.well-known/openid-configuration  OIDC Discovery 1.0 / RFC 8414 metadata
//	GET      /oauth2/jwks                       the public signing keys (RFC 7517)
//	POST     /oauth2/device_authorization       RFC 8628 §3.1–3.2
//	POST     /oauth2/token                      RFC 6749 §4.1.3, §6; RFC 8628 §3.4
//	GET|POST /oauth2/userinfo                   OIDC Core §5.3, bearer token (RFC 6750)
//	POST     /oauth2/revoke                     RFC 7009
//	POST     /oauth2/introspect                 RFC 7662
//
// (GET|POST /oauth2/authorize is the pages' authorization endpoint, served
// by package web.)
//
// Requests are application/x-www-form-urlencoded with snake_case
// parameters, each at most once (RFC 6749 §3.1, §3.2); answers are JSON,
// errors {"error","error_description"} with the status of the engine's
// error table. Clients authenticate with HTTP Basic (client_secret_basic),
// client_id and client_secret in the body (client_secret_post), or, for
// public clients, client_id alone (none).
//
// Like awsapi, the package is an adapter: it decodes, calls the engine in
// internal/oauth and writes what the engine answered; the wire codes come
// only from the engine's error table.
package oauthapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
)

// Paths of the endpoints.
const (
	PathDiscovery           = "/.well-known/openid-configuration"
	PathJWKS                = "/oauth2/jwks"
	PathAuthorize           = "/oauth2/authorize"
	PathDeviceAuthorization = "/oauth2/device_authorization"
	PathToken               = "/oauth2/token"
	PathUserInfo            = "/oauth2/userinfo"
	PathRevoke              = "/oauth2/revoke"
	PathIntrospect          = "/oauth2/introspect"
)

// realm names this server in WWW-Authenticate challenges.
const realm = "ssooidc"

const contentTypeJSON = "application/json"

// KeySet is the published signing keys (keys.Manager).
type KeySet interface {
	// JWKS returns the public keys as a JWK Set document.
	JWKS(ctx context.Context) ([]byte, error)
	// Algorithms are the signing algorithms the keys may use.
	Algorithms() []string
}

// Config is what the dialect needs besides the engine.
type Config struct {
	Keys KeySet
	// JWKSMaxAge is the Cache-Control max-age of the key set, in seconds.
	JWKSMaxAge int
	Log        *slog.Logger
}

// API is the RFC dialect over one engine.
type API struct {
	engine    *oauth.Engine
	keys      KeySet
	jwksCache string // Cache-Control of the JWKS
	log       *slog.Logger
	discovery []byte
}

// New returns the dialect over engine.
func New(engine *oauth.Engine, cfg Config) *API {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	a := &API{engine: engine, keys: cfg.Keys, log: cfg.Log, jwksCache: "no-cache"}
	if cfg.JWKSMaxAge > 0 {
		a.jwksCache = "public, max-age=" + strconv.Itoa(cfg.JWKSMaxAge)
	}
	var algs []string
	if cfg.Keys != nil {
		algs = cfg.Keys.Algorithms()
	}
	a.discovery = discoveryDocument(engine.Config().Issuer, algs)
	return a
}

// Register adds the endpoints to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathDiscovery, a.serveDiscovery)
	mux.HandleFunc("GET "+PathJWKS, a.serveJWKS)
	mux.Handle("POST "+PathDeviceAuthorization, a.handle("device_authorization", a.deviceAuthorization))
	mux.Handle("POST "+PathToken, a.handle("token", a.token))
	mux.Handle("GET "+PathUserInfo, http.HandlerFunc(a.userinfo))
	mux.Handle("POST "+PathUserInfo, http.HandlerFunc(a.userinfo))
	mux.Handle("POST "+PathRevoke, a.handle("revoke", a.revoke))
	mux.Handle("POST "+PathIntrospect, a.handle("introspect", a.introspect))
}

// handlerFunc writes a success itself and returns a failure for writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle wraps an endpoint: every answer is no-store (RFC 6749 §5.1, §5.2:
// tokens, and errors about them, must not be cached), every error goes
// through writeError.
func (a *API) handle(endpoint string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noStore(w.Header())
		if err := h(w, r); err != nil {
			a.writeError(w, r, endpoint, err)
		}
	})
}

func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// errorBody is an RFC 6749 §5.2 error.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// writeError is the one place an error becomes an RFC answer: status and
// code from the engine's table, the description from WireDescription (an
// internal error never shows its cause, which goes to the log). A failed
// client authentication (401) carries the Basic challenge (RFC 6749 §5.2).
func (a *API) writeError(w http.ResponseWriter, r *http.Request, endpoint string, err error) {
	oe := oauth.AsError(err)
	a.logError(r, endpoint, oe)
	if oe.Kind == oauth.InvalidClient {
		w.Header().Set("WWW-Authenticate", oauth.BasicChallenge(realm))
	}
	writeBody(w, oe.Kind.RFCStatus(), errorBody{Error: oe.Kind.RFCCode(), ErrorDescription: oe.WireDescription()})
}

// writeBearerError answers a failed bearer-token request (RFC 6750 §3).
func (a *API) writeBearerError(w http.ResponseWriter, r *http.Request, endpoint string, err error, tokenSent bool) {
	oe := oauth.AsError(err)
	a.logError(r, endpoint, oe)
	if oe.Kind != oauth.Internal {
		w.Header().Set("WWW-Authenticate", oauth.BearerChallenge(realm, oe, tokenSent))
	}
	writeBody(w, oe.Kind.RFCStatus(), errorBody{Error: oe.Kind.RFCCode(), ErrorDescription: oe.WireDescription()})
}

// logError records a failed request. Pending and slow_down polls are the
// device flow's rhythm: debug level.
func (a *API) logError(r *http.Request, endpoint string, oe *oauth.Error) {
	ctx := r.Context()
	level := slog.LevelInfo
	switch oe.Kind {
	case oauth.Internal:
		level = slog.LevelError
	case oauth.AuthorizationPending, oauth.SlowDown:
		level = slog.LevelDebug
	}
	if !a.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("endpoint", endpoint),
		slog.String("request_id", reqinfo.From(ctx).ID),
		slog.String("error", oe.Kind.RFCCode()),
	}
	if oe.Kind == oauth.Internal {
		var cause error = oe
		if oe.Err != nil {
			cause = oe.Err
		}
		a.log.LogAttrs(ctx, level, "OAuth request failed", append(attrs, slog.String("err", cause.Error()))...)
		return
	}
	a.log.LogAttrs(ctx, level, "OAuth request rejected", append(attrs, slog.String("description", oe.Description))...)
}

// writeJSON answers 200 with v.
func writeJSON(w http.ResponseWriter, v any) error {
	b, err := encode(v)
	if err != nil {
		return &oauth.Error{Kind: oauth.Internal, Description: "encode response", Err: err}
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}

func writeBody(w http.ResponseWriter, status int, v any) {
	b, err := encode(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"` + oauth.Internal.RFCCode() + `"}`)
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(status)
	w.Write(b)
}

// encode marshals v without HTML escaping (descriptions may quote what a
// client sent) and without a trailing newline.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// joinScopes writes a scope list as RFC 6749 §3.3 does.
func joinScopes(s []string) string { return strings.Join(s, " ") }
