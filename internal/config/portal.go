package config

import (
	"fmt"
	"net/url"
	"strings"
)

// validatePortal checks the SSO portal's settings (docs/portal.md).
func (c *Config) validatePortal() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, id := range c.PortalStaticAccounts {
		if id != "*" && (len(id) != 12 || strings.Trim(id, "0123456789") != "") {
			bad("portal_static_accounts: %q is neither a 12-digit account id nor *", id)
		}
	}
	if c.PortalRateLimit < 0 {
		bad("portal_rate_limit: must not be negative (0 turns it off)")
	}
	if c.STSEndpoint != "" {
		if u, err := url.Parse(c.STSEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("sts_endpoint: %q must be an absolute http or https URL", c.STSEndpoint)
		}
	}
	if !strings.Contains(c.STSRoleARN, "{account}") || !strings.Contains(c.STSRoleARN, "{role}") {
		bad("sts_role_arn: %q must contain {account} and {role}", c.STSRoleARN)
	}
	return errs
}

// PortalStaticAll reports whether every account uses the static source.
func (c *Config) PortalStaticAll() bool {
	for _, id := range c.PortalStaticAccounts {
		if id == "*" {
			return true
		}
	}
	return false
}
