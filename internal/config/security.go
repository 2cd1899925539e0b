package config

import (
	"fmt"
	"maps"
	"slices"
)

// validateSecurity checks the abuse limits, the device grant policy and
// the audit retention (docs/security.md).
func (c *Config) validateSecurity() []error {
	var errs []error
	counts := map[string]int{
		"limit_register_per_ip":             c.LimitRegisterPerIP,
		"limit_device_start_per_ip":         c.LimitDeviceStartPerIP,
		"max_live_device_grants_per_client": c.MaxLiveDeviceGrantsPerClient,
		"limit_code_failures_per_ip":        c.LimitCodeFailuresPerIP,
		"limit_code_failures_per_session":   c.LimitCodeFailuresPerSession,
		"limit_code_failures_global":        c.LimitCodeFailuresGlobal,
		"limit_signin_failures_per_ip":      c.LimitSignInFailuresPerIP,
		"limit_signin_failures_per_account": c.LimitSignInFailuresPerAccount,
		"lockout_after_failures":            c.LockoutAfterFailures,
	}
	for _, key := range slices.Sorted(maps.Keys(counts)) {
		if counts[key] < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative (0 turns it off)", key))
		}
	}
	if c.LimitBackoffMax < 0 {
		errs = append(errs, fmt.Errorf("limit_backoff_max: must not be negative (0: plain per-minute limits)"))
	}
	if c.AuditRetention < 0 {
		errs = append(errs, fmt.Errorf("audit_retention: must not be negative (0 keeps events forever)"))
	}
	for _, id := range c.DeviceGrantClients {
		if id == "" {
			errs = append(errs, fmt.Errorf("device_grant_clients: an entry is empty"))
		}
	}
	return errs
}
