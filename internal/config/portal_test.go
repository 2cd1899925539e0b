package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPortalSettings(t *testing.T) {
	c := Default()
	if err := c.LoadFile(writeFile(t, `
portal_static_accounts: ["000000000000", "111122223333"]
portal_rate_limit: 30
sts_endpoint: http://127.0.0.1:4566
sts_region: eu-west-1
sts_role_arn: "arn:aws-us-gov:iam::{account}:role/sso/{role}"
`)); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"000000000000", "111122223333"}, c.PortalStaticAccounts); diff != "" {
		t.Errorf("portal_static_accounts (-want +got):\n%s", diff)
	}
	if c.PortalRateLimit != 30 || c.STSEndpoint != "http://127.0.0.1:4566" || c.STSRegion != "eu-west-1" || c.PortalStaticAll() {
		t.Errorf("loaded %+v", c)
	}

	// The environment sets the flat keys too.
	env := map[string]string{"SSOOIDC_PORTAL_STATIC_ACCOUNTS": "*", "SSOOIDC_PORTAL_RATE_LIMIT": "0"}
	if err := c.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if !c.PortalStaticAll() || c.PortalRateLimit != 0 {
		t.Errorf("after env: static accounts %v, rate limit %d; want *, 0", c.PortalStaticAccounts, c.PortalRateLimit)
	}
}

func TestPortalSettingsInvalid(t *testing.T) {
	c := Default()
	c.PortalStaticAccounts = []string{"12345", "111122223333"}
	c.PortalRateLimit = -1
	c.STSEndpoint = "sts.example.com"
	c.STSRoleARN = "arn:aws:iam::{account}:role/Fixed"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad portal settings")
	}
	for _, want := range []string{`portal_static_accounts: "12345"`, "portal_rate_limit", "sts_endpoint", "sts_role_arn"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "111122223333") {
		t.Errorf("Validate refused a good account id:\n%v", err)
	}
}
