package config

import (
	"strings"
	"testing"
)

func TestSecurityDefaultsAndValidation(t *testing.T) {
	def := Default()
	if def.LimitCodeFailuresPerIP == 0 || def.LimitSignInFailuresPerAccount == 0 || !def.DeviceGrantEnabled || def.LockoutAfterFailures == 0 {
		t.Errorf("the defences are not on by default: %+v", def)
	}
	c := Default()
	for key, value := range map[string]string{
		"limit_register_per_ip":        "-1",
		"limit_code_failures_global":   "-5",
		"lockout_after_failures":       "-1",
		"limit_backoff_max":            "-1m",
		"audit_retention":              "-1h",
		"device_grant_clients":         "aws-cli, ,botocore",
		"mfa_required":                 "true",
		"limit_signin_failures_per_ip": "0",
	} {
		if err := c.Set(key, value); err != nil {
			t.Fatalf("Set(%s, %s): %v", key, value, err)
		}
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted negative limits")
	}
	for _, key := range []string{"limit_register_per_ip", "limit_code_failures_global", "lockout_after_failures", "limit_backoff_max", "audit_retention"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("Validate did not report %s:\n%v", key, err)
		}
	}
	if !c.MFARequired || len(c.DeviceGrantClients) != 2 || c.LimitSignInFailuresPerIP != 0 {
		t.Errorf("Set did not apply: %+v", c)
	}
}
