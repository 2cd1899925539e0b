package server

import (
	"net/http"
	"time"

	"github.com/ssooidc/ssooidc/internal/keys"
	"github.com/ssooidc/ssooidc/internal/oauthapi"
)

// newSigningKeys builds the manager of the ID token signing keys. ID
// tokens live as long as access tokens, so that is how long a retired key
// stays published.
func newSigningKeys(opts Options) (*keys.Manager, error) {
	cfg := opts.Config
	return keys.New(opts.Store, opts.Keys, keys.Config{
		Algorithm:     cfg.SigningAlgorithm,
		Rotation:      time.Duration(cfg.SigningKeyRotation),
		TokenLifetime: time.Duration(cfg.AccessTokenLifetime),
		Now:           opts.Now,
		Log:           opts.Log,
	})
}

// registerOIDC mounts the standard OAuth 2.0 / OpenID Connect dialect.
func (s *Server) registerOIDC(mux *http.ServeMux) {
	oauthapi.New(s.engine, oauthapi.Config{
		Keys:       s.signing,
		JWKSMaxAge: int(keys.JWKSMaxAge / time.Second),
		Log:        s.log,
	}).Register(mux)
}

// SigningKeys returns the ID token signing keys (for tests and commands).
func (s *Server) SigningKeys() *keys.Manager { return s.signing }
