package server

import (
	"github.com/ssooidc/ssooidc/internal/accounts"
	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/credentials"
	"github.com/ssooidc/ssooidc/internal/portal"
	"github.com/ssooidc/ssooidc/internal/secret"
)

// newPortal builds the SSO portal: the accounts service over the store,
// with each account's credential source as configured (static for the
// accounts portal_static_accounts lists, sts for the others), and its API.
func (s *Server) newPortal(keys *secret.Keys, rec audit.Recorder) *portal.API {
	cfg := s.cfg
	static := credentials.NewStatic(s.store, keys, s.now)
	router := credentials.Router{
		Default: credentials.NewSTS(credentials.STSConfig{
			Endpoint: cfg.STSEndpoint,
			Region:   cfg.STSRegion,
			RoleARN:  cfg.STSRoleARN,
			Log:      s.log,
		}),
		ByAccount: map[string]credentials.Source{},
	}
	if cfg.PortalStaticAll() {
		router.Default = static
	} else {
		for _, id := range cfg.PortalStaticAccounts {
			router.ByAccount[id] = static
		}
	}
	if len(cfg.PortalStaticAccounts) > 0 {
		s.log.Warn("SSO portal: the static credential source serves these accounts; its credentials are fixed or made up, for local emulators and tests only: NOT FOR PRODUCTION",
			"accounts", cfg.PortalStaticAccounts)
	}
	acc := accounts.New(s.store, keys, accounts.Config{Source: router, Audit: rec}, s.now, s.log)
	return portal.New(s.engine, acc, portal.Config{RateLimit: cfg.PortalRateLimit, Now: s.now, Log: s.log})
}
