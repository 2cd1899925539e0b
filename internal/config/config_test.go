package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ssooidc.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileEnvAndValidate(t *testing.T) {
	c := Default()
	err := c.LoadFile(writeFile(t, `
addr: 0.0.0.0:9000
issuer: https://sso.example.com
start_urls: [https://d-0000000000.awsapps.com/start]
device_poll_interval: 5s
refresh_reuse_grace: 0s
`))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SSOOIDC_DB": "/var/lib/ssooidc/db", "SSOOIDC_START_URLS": "https://a.example/start, https://b.example/start"}
	if err := c.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "0.0.0.0:9000" || c.DB != "/var/lib/ssooidc/db" || time.Duration(c.DevicePollInterval) != 5*time.Second || c.RefreshReuseGrace != 0 {
		t.Errorf("loaded %+v", c)
	}
	if diff := cmp.Diff([]string{"https://a.example/start", "https://b.example/start"}, c.StartURLs); diff != "" {
		t.Errorf("start_urls (-want +got):\n%s", diff)
	}
}

func TestUnknownKeyIsAnError(t *testing.T) {
	c := Default()
	err := c.LoadFile(writeFile(t, "adr: 127.0.0.1:1\n"))
	if err == nil || !strings.Contains(err.Error(), "adr") {
		t.Errorf("err = %v, want one naming the unknown key", err)
	}
}

func TestEmptyFileKeepsDefaults(t *testing.T) {
	c := Default()
	if err := c.LoadFile(writeFile(t, "")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Default(), c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Addr = "nope"
	c.Issuer = "ftp://x"
	c.DevicePollInterval = Duration(1500 * time.Millisecond)
	c.LogLevel = "loud"
	c.TrustedProxies = []string{"10.0.0.0/33"}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"addr:", "issuer:", "device_poll_interval:", "log_level:", "trusted_proxies:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestBadEnvValue(t *testing.T) {
	c := Default()
	err := c.LoadEnv(func(k string) (string, bool) {
		if k == "SSOOIDC_DEV" {
			return "maybe", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), "SSOOIDC_DEV") {
		t.Errorf("err = %v", err)
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.SecretKey = "k"
	c.DB = "postgres://u:pw@db/ssooidc"
	r := c.Redacted()
	if strings.Contains(r.SecretKey+r.DB, "pw") || r.SecretKey == "k" {
		t.Errorf("redacted = %q, %q", r.SecretKey, r.DB)
	}
}

func TestDevKeyFileIsCreatedOnceAndReused(t *testing.T) {
	c := Default()
	c.Dev = true
	c.DB = filepath.Join(t.TempDir(), "x.db")
	k1, src, created, err := c.LoadSecretKey()
	if err != nil || !created {
		t.Fatalf("first load: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(src)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v %v", src, fi.Mode(), err)
	}
	k2, _, created, err := c.LoadSecretKey()
	if err != nil || created || string(k1) != string(k2) {
		t.Errorf("second load: created=%v err=%v same=%v", created, err, string(k1) == string(k2))
	}
	c.Dev = false
	if _, _, _, err := c.LoadSecretKey(); err == nil {
		t.Error("no key outside dev mode should be an error")
	}
}
