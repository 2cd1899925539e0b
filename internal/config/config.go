// Package config is ssooidc's one configuration: defaults, a strict YAML file
// (unknown keys are errors), SSOOIDC_* environment overrides, and a
// Validate that reports every problem at once. Flags are applied by the
// commands on top.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ssooidc/ssooidc/internal/secret"
)

// Duration is a time.Duration written as "90s", "1h", "2160h".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	return d.parse(n.Value)
}

// MarshalYAML writes a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 90s or 1h", s)
	}
	*d = Duration(v)
	return nil
}

// Config is every setting. The yaml tag is the key in the file; the
// environment variable is SSOOIDC_ and the key in upper case.
type Config struct {
	// Addr is the listen address.
	Addr string `yaml:"addr" doc:"Address the HTTP listener binds."`
	// Issuer is the public base URL; http:// + Addr when empty.
	Issuer string `yaml:"issuer" doc:"Public base URL of the server (what browsers and clients reach); default http:// + addr."`
	// DB is a SQLite file path or a postgres:// URL.
	DB                 string   `yaml:"db" doc:"Storage: a SQLite file path, or a postgres:// URL."`
	DBMaxConns         int      `yaml:"db_max_conns" doc:"PostgreSQL: the most connections this replica opens."`
	DBStatementTimeout Duration `yaml:"db_statement_timeout" doc:"PostgreSQL: statement_timeout of every connection; a stuck query fails instead of holding a request."`

	// Dev is development mode.
	Dev bool `yaml:"dev" doc:"Development mode: any start URL, a demo user, a generated secret key beside the database."`

	SecretKey     string `yaml:"secret_key" secret:"true" doc:"Master key (32+ bytes, base64 or hex) that keys the hashes and encrypts secrets at rest; prefer secret_key_file or the environment."`
	SecretKeyFile string `yaml:"secret_key_file" doc:"File holding the master key."`

	StartURLs []string `yaml:"start_urls" doc:"Start URLs this instance serves (sent by clients as startUrl / issuerUrl); default {issuer}/start."`

	ClientLifetime        Duration `yaml:"client_lifetime" doc:"Lifetime of a client registration (clientSecretExpiresAt)."`
	DeviceCodeLifetime    Duration `yaml:"device_code_lifetime" doc:"Lifetime of a device authorization (expiresIn)."`
	DevicePollInterval    Duration `yaml:"device_poll_interval" doc:"Polling interval returned by StartDeviceAuthorization (whole seconds)."`
	AccessTokenLifetime   Duration `yaml:"access_token_lifetime" doc:"Lifetime of an access token."`
	RefreshTokenLifetime  Duration `yaml:"refresh_token_lifetime" doc:"Session length: refresh tokens stop working this long after the approval; refreshing does not extend it."`
	RefreshReuseGrace     Duration `yaml:"refresh_reuse_grace" doc:"A just-rotated refresh token presented again within this time gets a new pair instead of revoking the family (parallel AWS processes); 0 turns it off."`
	AuthCodeLifetime      Duration `yaml:"auth_code_lifetime" doc:"Lifetime of an authorization code."`
	BrowserSessionTimeout Duration `yaml:"browser_session_lifetime" doc:"How long a browser stays signed in."`
	ExpiredRetention      Duration `yaml:"expired_retention" doc:"How long expired device grants and codes are kept (answering ExpiredTokenException) before removal."`
	ShutdownGrace         Duration `yaml:"shutdown_grace" doc:"How long in-flight requests may take to finish on SIGTERM."`

	// OpenID Connect ID token signing keys (docs/oidc.md).
	SigningAlgorithm   string   `yaml:"signing_algorithm" doc:"Algorithm of new ID token signing keys: RS256 (what OIDC Discovery requires and Kubernetes expects) or ES256. A change applies from the next key rotation (ssooidc keys rotate)."`
	SigningKeyRotation Duration `yaml:"signing_key_rotation" doc:"Age at which the signing key is replaced by a new one (published 10 minutes before it signs; the old one stays published until its tokens have expired); 0: only by ssooidc keys rotate. At least 1h."`

	LogLevel  string `yaml:"log_level" doc:"debug, info, warn or error."`
	LogFormat string `yaml:"log_format" doc:"json, text, or auto (text on a terminal, JSON otherwise)."`

	TrustedProxies []string `yaml:"trusted_proxies" doc:"IP addresses or CIDRs of proxies whose X-Forwarded-For is believed."`

	MetricsAddr string `yaml:"metrics_addr" doc:"Serve /metrics on this separate address instead of the main listener (so it need not be public)."`

	// SSO portal credential sources (docs/portal.md).
	PortalStaticAccounts []string `yaml:"portal_static_accounts" doc:"SSO portal: account ids whose credentials come from the static source (credentials stored with ssooidc account set-credentials, else generated ones) for local emulators such as LocalStack or moto and for tests — NOT FOR PRODUCTION; * selects every account. All other accounts use the sts source."`
	PortalRateLimit      int      `yaml:"portal_rate_limit" doc:"SSO portal: requests a minute one sign-in session may make before TooManyRequestsException (a token bucket, counted per replica); 0 turns it off."`
	STSEndpoint          string   `yaml:"sts_endpoint" doc:"sts source: the STS endpoint URL; default AWS's regional endpoint. Any STS-compatible endpoint works. ssooidc signs with its own AWS credentials from the standard AWS chain (environment, shared files and AWS_PROFILE, web identity, container or instance role)."`
	STSRegion            string   `yaml:"sts_region" doc:"sts source: region of the STS client and its signatures; default the AWS environment's (AWS_REGION), else us-east-1."`
	STSRoleARN           string   `yaml:"sts_role_arn" doc:"sts source: the role to assume, with {account} and {role} replaced by the assignment's."`

	// Abuse resistance, second factors and the audit trail (docs/security.md).
	// Every limit counts per minute in the store, so it holds across
	// replicas; 0 turns it off.
	LimitRegisterPerIP            int      `yaml:"limit_register_per_ip" doc:"RegisterClient calls a minute from one client address (IPv6: one /64) before SlowDownException; 0 turns it off."`
	LimitDeviceStartPerIP         int      `yaml:"limit_device_start_per_ip" doc:"StartDeviceAuthorization calls a minute from one client address (IPv6: one /64) before SlowDownException; 0 turns it off."`
	MaxLiveDeviceGrantsPerClient  int      `yaml:"max_live_device_grants_per_client" doc:"Device authorizations one client may have waiting for approval at once; beyond it StartDeviceAuthorization answers SlowDownException; 0: no bound."`
	LimitCodeFailuresPerIP        int      `yaml:"limit_code_failures_per_ip" doc:"Wrong user codes a minute typed from one client address on the verification page (RFC 8628 §5.1), then a growing wait; right codes do not count; 0 turns it off."`
	LimitCodeFailuresPerSession   int      `yaml:"limit_code_failures_per_session" doc:"Wrong user codes a minute typed by one signed-in person (all of their browser sessions), then a growing wait; 0 turns it off."`
	LimitCodeFailuresGlobal       int      `yaml:"limit_code_failures_global" doc:"Wrong user codes a minute on the whole instance (all replicas), a ceiling against guessing from many addresses; beyond it everyone waits for the next minute; 0 turns it off."`
	LimitSignInFailuresPerIP      int      `yaml:"limit_signin_failures_per_ip" doc:"Failed sign-ins (password or second factor) a minute from one client address, then a growing wait (password spraying); 0 turns it off."`
	LimitSignInFailuresPerAccount int      `yaml:"limit_signin_failures_per_account" doc:"Failed sign-ins a minute for one user name, existing or not, then a growing wait (brute force); 0 turns it off."`
	LimitBackoffMax               Duration `yaml:"limit_backoff_max" doc:"Longest extra wait of the growing waits: each minute that goes over a limit again doubles the wait beyond the minute (1, 3, 7… minutes) up to this; 0: plain per-minute limits."`
	LockoutAfterFailures          int      `yaml:"lockout_after_failures" doc:"Consecutive failed sign-ins that lock an account until an admin runs ssooidc user unlock; 0: never lock."`
	DeviceGrantEnabled            bool     `yaml:"device_grant_enabled" doc:"Serve the device authorization grant (StartDeviceAuthorization); false leaves only the authorization code flow (no device-code phishing, RFC 8628 §5.4)."`
	DeviceGrantClients            []string `yaml:"device_grant_clients" doc:"When set, only these clients (by client id or registered name) may start a device authorization. Names are chosen by whoever registers, so this steers well-behaved tools rather than stopping an attacker."`
	MFARequired                   bool     `yaml:"mfa_required" doc:"Everyone must sign in with a second factor (TOTP); people without one set it up right after their password. Per user: ssooidc user mfa require."`
	AuditRetention                Duration `yaml:"audit_retention" doc:"How long audit events are kept in the store (ssooidc audit list); 0 keeps them forever."`
}

// Default returns the defaults.
func Default() Config {
	return Config{
		Addr:                  "127.0.0.1:8080",
		DB:                    "ssooidc.db",
		DBMaxConns:            16,
		DBStatementTimeout:    Duration(5 * time.Second),
		ClientLifetime:        Duration(90 * 24 * time.Hour),
		DeviceCodeLifetime:    Duration(600 * time.Second),
		DevicePollInterval:    Duration(time.Second),
		AccessTokenLifetime:   Duration(time.Hour),
		RefreshTokenLifetime:  Duration(8 * time.Hour),
		RefreshReuseGrace:     Duration(5 * time.Second),
		AuthCodeLifetime:      Duration(60 * time.Second),
		BrowserSessionTimeout: Duration(8 * time.Hour),
		ExpiredRetention:      Duration(time.Hour),
		ShutdownGrace:         Duration(15 * time.Second),
		SigningAlgorithm:      "RS256",
		SigningKeyRotation:    Duration(30 * 24 * time.Hour),
		LogLevel:              "info",
		LogFormat:             "auto",
		PortalRateLimit:       120,
		STSRoleARN:            "arn:aws:iam::{account}:role/{role}",

		LimitRegisterPerIP:            60,
		LimitDeviceStartPerIP:         120,
		MaxLiveDeviceGrantsPerClient:  100,
		LimitCodeFailuresPerIP:        5,
		LimitCodeFailuresPerSession:   5,
		LimitCodeFailuresGlobal:       100,
		LimitSignInFailuresPerIP:      20,
		LimitSignInFailuresPerAccount: 5,
		LimitBackoffMax:               Duration(time.Hour),
		LockoutAfterFailures:          20,
		DeviceGrantEnabled:            true,
		AuditRetention:                Duration(90 * 24 * time.Hour),
	}
}

// LoadFile reads a YAML file over c. Unknown keys are errors.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

// EnvName is the environment variable that overrides a YAML key.
func EnvName(key string) string { return "SSOOIDC_" + strings.ToUpper(key) }

// LoadEnv applies SSOOIDC_* variables (lookup is os.LookupEnv in
// production). Lists are comma-separated.
func (c *Config) LoadEnv(lookup func(string) (string, bool)) error {
	var errs []error
	forEachField(c, func(key string, f reflect.Value, _ reflect.StructField) {
		v, ok := lookup(EnvName(key))
		if !ok {
			return
		}
		if err := setField(f, v); err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", EnvName(key), err))
		}
	})
	return errors.Join(errs...)
}

// Set assigns one key from its text form (used for flags and tests).
func (c *Config) Set(key, value string) error {
	var err error
	found := false
	forEachField(c, func(k string, f reflect.Value, _ reflect.StructField) {
		if k == key {
			found = true
			err = setField(f, value)
		}
	})
	if !found {
		return fmt.Errorf("config: unknown key %q", key)
	}
	return err
}

func forEachField(c *Config, fn func(key string, f reflect.Value, sf reflect.StructField)) {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		fn(key, v.Field(i), sf)
	}
}

func setField(f reflect.Value, text string) error {
	switch p := f.Addr().Interface().(type) {
	case *string:
		*p = text
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", text)
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("%q is not true or false", text)
		}
		*p = b
	case *Duration:
		return p.parse(text)
	case *[]string:
		*p = nil
		for _, s := range strings.Split(text, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*p = append(*p, s)
			}
		}
	default:
		return fmt.Errorf("unsupported field type %T", p)
	}
	return nil
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr: %q is not host:port", c.Addr)
	}
	if c.Issuer != "" {
		if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("issuer: %q must be an absolute http or https URL without query or fragment", c.Issuer)
		}
	}
	if c.DB == "" {
		bad("db: must be a SQLite file path or a postgres:// URL")
	}
	if c.DBMaxConns < 1 || c.DBMaxConns > 10000 {
		bad("db_max_conns: must be between 1 and 10000")
	}
	if c.DBStatementTimeout < 0 {
		bad("db_statement_timeout: must not be negative (0 turns it off)")
	}
	for _, s := range c.StartURLs {
		if u, err := url.Parse(s); err != nil || u.Scheme == "" || u.Host == "" {
			bad("start_urls: %q is not an absolute URL", s)
		}
	}
	positive := map[string]Duration{
		"client_lifetime": c.ClientLifetime, "device_code_lifetime": c.DeviceCodeLifetime,
		"device_poll_interval": c.DevicePollInterval, "access_token_lifetime": c.AccessTokenLifetime,
		"refresh_token_lifetime": c.RefreshTokenLifetime, "auth_code_lifetime": c.AuthCodeLifetime,
		"browser_session_lifetime": c.BrowserSessionTimeout,
	}
	for _, key := range slices.Sorted(maps.Keys(positive)) {
		if positive[key] <= 0 {
			bad("%s: must be positive", key)
		}
	}
	if c.DevicePollInterval > 0 && time.Duration(c.DevicePollInterval)%time.Second != 0 {
		bad("device_poll_interval: must be whole seconds (clients read an integer)")
	}
	if c.DeviceCodeLifetime > 0 && time.Duration(c.DeviceCodeLifetime)%time.Second != 0 {
		bad("device_code_lifetime: must be whole seconds (clients read an integer)")
	}
	nonNegative := map[string]Duration{"refresh_reuse_grace": c.RefreshReuseGrace, "expired_retention": c.ExpiredRetention, "shutdown_grace": c.ShutdownGrace}
	for _, key := range slices.Sorted(maps.Keys(nonNegative)) {
		if nonNegative[key] < 0 {
			bad("%s: must not be negative", key)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "text", "auto":
	default:
		bad("log_format: %q is not json, text or auto", c.LogFormat)
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			bad("trusted_proxies: %q is not an IP address or CIDR", p)
		}
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("metrics_addr: %q is not host:port", c.MetricsAddr)
		}
	}
	errs = append(errs, c.validatePortal()...)
	errs = append(errs, c.validateSigning()...)
	errs = append(errs, c.validateSecurity()...)
	if c.SecretKey != "" && c.SecretKeyFile != "" {
		bad("secret_key and secret_key_file: set only one")
	}
	if c.SecretKey != "" {
		if _, err := secret.ParseKey(c.SecretKey); err != nil {
			bad("secret_key: %v", err)
		}
	}
	return errors.Join(errs...)
}

// IsPostgres reports whether DB names a PostgreSQL database.
func (c *Config) IsPostgres() bool {
	return strings.HasPrefix(c.DB, "postgres://") || strings.HasPrefix(c.DB, "postgresql://")
}

// LoadSecretKey returns the master key from secret_key or secret_key_file.
// In dev mode with neither set, it reads or creates a key file beside the
// SQLite database (or ssooidc-dev.key), and created reports a new file.
func (c *Config) LoadSecretKey() (key []byte, source string, created bool, err error) {
	switch {
	case c.SecretKey != "":
		k, err := secret.ParseKey(c.SecretKey)
		return k, "secret_key", false, err
	case c.SecretKeyFile != "":
		data, err := os.ReadFile(c.SecretKeyFile)
		if err != nil {
			return nil, "", false, fmt.Errorf("config: secret_key_file: %w", err)
		}
		k, err := secret.ParseKey(string(data))
		if err != nil {
			return nil, "", false, fmt.Errorf("config: secret_key_file %s: %w", c.SecretKeyFile, err)
		}
		return k, c.SecretKeyFile, false, nil
	case c.Dev:
		path := "ssooidc-dev.key"
		if !c.IsPostgres() {
			path = c.DB + ".key"
		}
		if data, err := os.ReadFile(path); err == nil {
			k, err := secret.ParseKey(string(data))
			return k, path, false, err
		}
		text := secret.GenerateKey()
		if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
			return nil, "", false, fmt.Errorf("config: writing dev key: %w", err)
		}
		k, err := secret.ParseKey(text)
		return k, path, true, err
	default:
		return nil, "", false, errors.New("config: no secret key: set secret_key_file (or SSOOIDC_SECRET_KEY); `ssooidc keys generate` prints a new key")
	}
}

// Redacted returns a copy safe to print.
func (c Config) Redacted() Config {
	if c.SecretKey != "" {
		c.SecretKey = "REDACTED"
	}
	if u, err := url.Parse(c.DB); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
			c.DB = u.String()
		}
	}
	return c
}
