// Package oauth is the protocol-neutral engine of ssooidc: client
// registration, the device authorization grant (RFC 8628), authorization
// codes with PKCE (RFC 6749 §4.1, RFC 7636), refresh token rotation and
// scopes. It never sees HTTP: the AWS and RFC dialects decode requests into
// the types here and turn its *Error into their own wire shape.
package oauth

import (
	"context"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Grant type strings (AWS-WIRE.md §4.1).
const (
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	grantDeviceCodeHyphen  = "urn:ietf:params:oauth:grant-type:device-code" // AWS docs' spelling
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// Opaque value prefixes, so secret scanners can recognise a leaked one.
const (
	prefixClientSecret = "sso_cs_"
	prefixDeviceCode   = "sso_dc_"
	prefixAccessToken  = "sso_at_"
	prefixRefreshToken = "sso_rt_"
	prefixAuthCode     = "sso_ac_"
)

// Hash purposes: a value of one kind never matches a hash of another.
const (
	hashClientSecret = "client-secret"
	hashDeviceCode   = "device-code"
	hashUserCode     = "user-code"
	hashAccessToken  = "access-token"
	hashRefreshToken = "refresh-token"
	hashAuthCode     = "auth-code"
)

// slowDownStep is what RFC 8628 §3.5 adds to the interval on slow_down.
const slowDownStep = 5 * time.Second

// Config holds the engine's policy. Zero durations take the defaults below.
type Config struct {
	// Issuer is the public base URL, e.g. https://sso.example.com.
	Issuer string
	// StartURLs are the start URLs this instance serves; {Issuer}/start
	// when empty. AnyStartURL (dev mode) accepts every start URL.
	StartURLs   []string
	AnyStartURL bool

	ClientLifetime       time.Duration // registration (client secret) lifetime; 90 days
	DeviceCodeLifetime   time.Duration // 600 s
	DeviceInterval       time.Duration // 1 s
	AccessTokenLifetime  time.Duration // 1 h
	RefreshTokenLifetime time.Duration // 8 h from approval: the session length
	RefreshReuseGrace    time.Duration // 5 s; negative: off
	AuthCodeLifetime     time.Duration // 60 s

	// Audit receives the security events; nil drops them.
	Audit audit.Recorder

	// IDTokens signs ID tokens (oidc.go); nil issues none.
	IDTokens IDTokenSigner

	// Limits are the flood and guessing defences (limits.go); the zero
	// value limits nothing.
	Limits Limits
}

// WithDefaults fills zero fields with the defaults.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ClientLifetime, 90*24*time.Hour)
	def(&c.DeviceCodeLifetime, 600*time.Second)
	def(&c.DeviceInterval, time.Second)
	def(&c.AccessTokenLifetime, time.Hour)
	def(&c.RefreshTokenLifetime, 8*time.Hour)
	def(&c.RefreshReuseGrace, 5*time.Second)
	def(&c.AuthCodeLifetime, 60*time.Second)
	if c.Audit == nil {
		c.Audit = audit.Discard{}
	}
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	if len(c.StartURLs) == 0 && c.Issuer != "" {
		c.StartURLs = []string{c.Issuer + "/start"}
	}
	return c
}

// Store is what the engine needs from storage.
type Store interface {
	store.Clients
	store.DeviceGrants
	store.AuthCodes
	store.Tokens
	GetUser(ctx context.Context, id string) (store.User, error)
}

// Engine implements the grants.
type Engine struct {
	store   Store
	keys    *secret.Keys
	cfg     Config
	now     func() time.Time
	log     *slog.Logger
	clients clientCache
}

// New returns an engine. now is the clock (time.Now in production).
func New(st Store, keys *secret.Keys, cfg Config, now func() time.Time, log *slog.Logger) *Engine {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{store: st, keys: keys, cfg: cfg.WithDefaults(), now: now, log: log}
}

// Config returns the effective configuration.
func (e *Engine) Config() Config { return e.cfg }

func (e *Engine) record(ctx context.Context, t audit.Type, clientID, userID, detail string) {
	e.cfg.Audit.Record(ctx, audit.Event{Type: t, Time: e.now(), ClientID: clientID, UserID: userID, Detail: detail})
}

// validText: what every backend can store as text (PostgreSQL refuses NUL
// and invalid UTF-8).
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// truncate shortens s to at most n bytes, on a character boundary, for
// echoing user input in a description.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
