// Package directory owns the people who may approve requests: users with
// argon2id password hashes (PHC strings), and the browser sessions they
// hold after signing in. Session ids and CSRF tokens are derived with the
// instance's keyed hash, so the store never sees a usable session value.
package directory

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/ratelimit"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Store is what the directory needs from storage.
type Store interface {
	store.Users
	store.Sessions
	store.Tokens
	store.UserSecurity
	store.MFA
}

// Config is the directory's policy. Zero fields take the defaults.
type Config struct {
	SessionLifetime time.Duration  // default 8h
	HashConcurrency int            // argon2id runs at most this many at once; default 2
	Audit           audit.Recorder // receives sign-in and administration events; nil drops them

	// Sign-in defences (security.go); the zero values are off.
	Limiter          *ratelimit.Limiter
	SignInPerIP      ratelimit.Rule // failed sign-ins per client address group
	SignInPerAccount ratelimit.Rule // failed sign-ins per user name, existing or not
	LockoutAfter     int            // consecutive failures that lock an account until an admin unlocks it; 0: never
	// MFARequired makes everyone use a second factor; users can also be
	// required one by one (SetMFARequired).
	MFARequired bool
	// TOTPIssuer names this service in authenticator apps; "ssooidc" when empty.
	TOTPIssuer string
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = 8 * time.Hour
	}
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = 2
	}
	if c.Audit == nil {
		c.Audit = audit.Discard{}
	}
	if c.TOTPIssuer == "" {
		c.TOTPIssuer = "ssooidc"
	}
	return c
}

// ErrBadCredentials is the one answer to a failed sign-in, whatever the
// reason: unknown user, wrong password or disabled account.
var ErrBadCredentials = errors.New("wrong user name or password")

// Hash purposes and value prefixes.
const (
	hashSession   = "session"
	hashCSRF      = "csrf"
	prefixSession = "sso_bs_" // browser session
)

// Input limits.
const (
	maxNameLen        = 64
	minPasswordLen    = 8
	maxPasswordLen    = 1024
	maxEmailLen       = 254
	maxDisplayNameLen = 256
	maxCookieLen      = 128
)

// Directory manages users and browser sessions.
type Directory struct {
	st   Store
	keys *secret.Keys
	cfg  Config
	now  func() time.Time
	log  *slog.Logger
	sem  chan struct{}
}

// New returns a directory. now is the clock (time.Now when nil).
func New(st Store, keys *secret.Keys, cfg Config, now func() time.Time, log *slog.Logger) *Directory {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.WithDefaults()
	return &Directory{
		st:   st,
		keys: keys,
		cfg:  cfg,
		now:  now,
		log:  log,
		sem:  make(chan struct{}, cfg.HashConcurrency),
	}
}

// ---- validation ----

// ValidateName checks a user name: 1–64 characters of A–Z, a–z, 0–9 and
// . _ @ + -.
func ValidateName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("user name must be 1 to %d characters long", maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return fmt.Errorf("user name may only contain letters, digits and . _ @ + -")
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '@' || c == '+' || c == '-'
}

// ValidatePassword checks a new password: 8 to 1024 bytes.
func ValidatePassword(password string) error {
	switch {
	case len(password) < minPasswordLen:
		return fmt.Errorf("password must be at least %d characters long", minPasswordLen)
	case len(password) > maxPasswordLen:
		return fmt.Errorf("password must be at most %d characters long", maxPasswordLen)
	}
	return nil
}

func validateEmail(email string) error {
	switch {
	case email == "":
		return nil
	case len(email) > maxEmailLen:
		return fmt.Errorf("email must be at most %d characters long", maxEmailLen)
	case !strings.Contains(email, "@") || strings.ContainsFunc(email, unicode.IsSpace) || !utf8.ValidString(email):
		return fmt.Errorf("email %q is not an email address", email)
	}
	return nil
}

func validateDisplayName(s string) error {
	switch {
	case len(s) > maxDisplayNameLen:
		return fmt.Errorf("display name must be at most %d bytes long", maxDisplayNameLen)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		return errors.New("display name must be valid text without control characters")
	}
	return nil
}

// ---- users ----

// addUser does the work of AddUser; the exported method records the event.
func (d *Directory) addUser(ctx context.Context, name, email, displayName, password string) (store.User, error) {
	if err := errors.Join(ValidateName(name), validateEmail(email), validateDisplayName(displayName), ValidatePassword(password)); err != nil {
		return store.User{}, fmt.Errorf("directory: add user: %w", err)
	}
	hash, err := d.hashPassword(ctx, password)
	if err != nil {
		return store.User{}, fmt.Errorf("directory: add user: %w", err)
	}
	now := d.now()
	u := store.User{
		ID:           secret.ID(16),
		Name:         name,
		Email:        email,
		DisplayName:  displayName,
		PasswordHash: hash,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if err := d.st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return store.User{}, fmt.Errorf("directory: user %q already exists: %w", name, err)
		}
		return store.User{}, fmt.Errorf("directory: add user: %w", err)
	}
	d.log.InfoContext(ctx, "user added", "user_id", u.ID, "user", u.Name)
	return u, nil
}

// setPassword does the work of SetPassword; the exported method records the event.
func (d *Directory) setPassword(ctx context.Context, name, password string) error {
	if err := ValidatePassword(password); err != nil {
		return fmt.Errorf("directory: set password: %w", err)
	}
	u, err := d.UserByName(ctx, name)
	if err != nil {
		return err
	}
	hash, err := d.hashPassword(ctx, password)
	if err != nil {
		return fmt.Errorf("directory: set password: %w", err)
	}
	u.PasswordHash = hash
	u.UpdatedAt = d.now()
	if err := d.st.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("directory: set password of %q: %w", name, err)
	}
	if err := d.st.DeleteUserSessions(ctx, u.ID); err != nil {
		return fmt.Errorf("directory: set password of %q: end sessions: %w", name, err)
	}
	d.log.InfoContext(ctx, "password changed", "user_id", u.ID, "user", u.Name)
	return nil
}

// setDisabled does the work of SetDisabled; the exported method records the event.
func (d *Directory) setDisabled(ctx context.Context, name string, disabled bool) error {
	u, err := d.UserByName(ctx, name)
	if err != nil {
		return err
	}
	now := d.now()
	u.Disabled = disabled
	u.UpdatedAt = now
	if err := d.st.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("directory: update user %q: %w", name, err)
	}
	if disabled {
		if err := d.st.DeleteUserSessions(ctx, u.ID); err != nil {
			return fmt.Errorf("directory: disable %q: end sessions: %w", name, err)
		}
		if err := d.st.RevokeUserTokens(ctx, u.ID, now); err != nil {
			return fmt.Errorf("directory: disable %q: revoke tokens: %w", name, err)
		}
	}
	d.log.InfoContext(ctx, "user updated", "user_id", u.ID, "user", u.Name, "disabled", disabled)
	return nil
}

// deleteUser does the work of DeleteUser; the exported method records the event.
func (d *Directory) deleteUser(ctx context.Context, name string) error {
	u, err := d.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if err := d.st.DeleteUser(ctx, u.ID, d.now()); err != nil {
		return fmt.Errorf("directory: delete user %q: %w", name, err)
	}
	d.log.InfoContext(ctx, "user deleted", "user_id", u.ID, "user", u.Name)
	return nil
}

// ListUsers returns every user, ordered by name.
func (d *Directory) ListUsers(ctx context.Context) ([]store.User, error) {
	us, err := d.st.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory: list users: %w", err)
	}
	return us, nil
}

// UserByName returns the user with that name; a wrapped store.ErrNotFound
// when there is none.
func (d *Directory) UserByName(ctx context.Context, name string) (store.User, error) {
	u, err := d.st.GetUserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("directory: no user %q: %w", name, err)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("directory: get user %q: %w", name, err)
	}
	return u, nil
}

// authenticate does the work of Authenticate; the exported method records the event.
func (d *Directory) authenticate(ctx context.Context, name, password string) (store.User, error) {
	if ValidateName(name) != nil || len(password) > maxPasswordLen {
		// No such account can exist; nothing to hide, no hashing to spend.
		return store.User{}, ErrBadCredentials
	}
	u, err := d.st.GetUserByName(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if _, _, err := d.verifyPassword(ctx, dummyHash, password); err != nil && ctx.Err() != nil {
			return store.User{}, fmt.Errorf("directory: authenticate: %w", err)
		}
		return store.User{}, ErrBadCredentials
	case err != nil:
		return store.User{}, fmt.Errorf("directory: authenticate: %w", err)
	}
	ok, stale, err := d.verifyPassword(ctx, u.PasswordHash, password)
	if err != nil {
		if ctx.Err() != nil {
			return store.User{}, fmt.Errorf("directory: authenticate: %w", err)
		}
		d.log.ErrorContext(ctx, "stored password hash is unusable", "user_id", u.ID, "err", err)
		return store.User{}, ErrBadCredentials
	}
	if !ok || u.Disabled {
		// The account exists: the caller counts the failure against it.
		return u, ErrBadCredentials
	}
	if stale {
		d.upgradeHash(ctx, u, password)
	}
	return u, nil
}

// upgradeHash rehashes a password stored under older parameters. Failure
// only costs another try at the next sign-in.
func (d *Directory) upgradeHash(ctx context.Context, u store.User, password string) {
	hash, err := d.hashPassword(ctx, password)
	if err == nil {
		u.PasswordHash = hash
		u.UpdatedAt = d.now()
		err = d.st.UpdateUser(ctx, u)
	}
	if err != nil {
		d.log.WarnContext(ctx, "password hash upgrade failed", "user_id", u.ID, "err", err)
		return
	}
	d.log.InfoContext(ctx, "password hash upgraded", "user_id", u.ID)
}

// ---- sessions ----

// StartSession opens a browser session for userID. The cookie value is
// random and returned only here; the store keeps its keyed hash.
func (d *Directory) StartSession(ctx context.Context, userID string) (string, store.Session, error) {
	value := secret.Token(prefixSession)
	now := d.now()
	s := store.Session{
		IDHash:    d.keys.Hash(hashSession, value),
		UserID:    userID,
		AuthTime:  now,
		CreatedAt: now,
		ExpiresAt: now.Add(d.cfg.SessionLifetime),
	}
	if err := d.st.CreateSession(ctx, s); err != nil {
		return "", store.Session{}, fmt.Errorf("directory: start session: %w", err)
	}
	return value, s, nil
}

// Session returns the live session with that cookie value and its user. An
// unknown or expired session, or one whose user was deleted or disabled,
// is a wrapped store.ErrNotFound.
func (d *Directory) Session(ctx context.Context, cookieValue string) (store.Session, store.User, error) {
	if !plausibleSession(cookieValue) {
		return store.Session{}, store.User{}, fmt.Errorf("directory: session: %w", store.ErrNotFound)
	}
	s, err := d.st.GetSession(ctx, d.keys.Hash(hashSession, cookieValue))
	if err != nil {
		return store.Session{}, store.User{}, fmt.Errorf("directory: session: %w", err)
	}
	if !d.now().Before(s.ExpiresAt) {
		return store.Session{}, store.User{}, fmt.Errorf("directory: session expired: %w", store.ErrNotFound)
	}
	u, err := d.st.GetUser(ctx, s.UserID)
	if err != nil {
		return store.Session{}, store.User{}, fmt.Errorf("directory: session user: %w", err)
	}
	if u.Disabled {
		return store.Session{}, store.User{}, fmt.Errorf("directory: session user disabled: %w", store.ErrNotFound)
	}
	return s, u, nil
}

// EndSession removes the session with that cookie value; ending an
// unknown session is not an error.
func (d *Directory) EndSession(ctx context.Context, cookieValue string) error {
	if !plausibleSession(cookieValue) {
		return nil
	}
	err := d.st.DeleteSession(ctx, d.keys.Hash(hashSession, cookieValue))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("directory: end session: %w", err)
	}
	return nil
}

func plausibleSession(v string) bool {
	return strings.HasPrefix(v, prefixSession) && len(v) <= maxCookieLen
}

// CSRFToken returns the anti-forgery token bound to a cookie value: a keyed
// hash, so only this instance can compute it and it reveals nothing about
// the cookie. Compare it in constant time.
func (d *Directory) CSRFToken(cookieValue string) string {
	return base64.RawURLEncoding.EncodeToString(d.keys.Hash(hashCSRF, cookieValue))
}

// ---- audited entry points ----

func (d *Directory) record(ctx context.Context, t audit.Type, userID, detail string) {
	d.cfg.Audit.Record(ctx, audit.Event{Type: t, Time: d.now(), UserID: userID, Detail: detail})
}

// AddUser creates a user with a password.
func (d *Directory) AddUser(ctx context.Context, name, email, displayName, password string) (store.User, error) {
	u, err := d.addUser(ctx, name, email, displayName, password)
	if err == nil {
		d.record(ctx, audit.UserAdded, u.ID, u.Name)
	}
	return u, err
}

// SetPassword replaces a user's password and ends its browser sessions.
func (d *Directory) SetPassword(ctx context.Context, name, password string) error {
	err := d.setPassword(ctx, name, password)
	if err == nil {
		d.record(ctx, audit.UserPasswordChanged, "", name)
	}
	return err
}

// SetDisabled disables (ending its sessions and revoking its tokens) or
// enables a user.
func (d *Directory) SetDisabled(ctx context.Context, name string, disabled bool) error {
	err := d.setDisabled(ctx, name, disabled)
	if err == nil {
		t := audit.UserEnabled
		if disabled {
			t = audit.UserDisabled
		}
		d.record(ctx, t, "", name)
	}
	return err
}

// DeleteUser removes a user, its sessions and its tokens.
func (d *Directory) DeleteUser(ctx context.Context, name string) error {
	err := d.deleteUser(ctx, name)
	if err == nil {
		d.record(ctx, audit.UserDeleted, "", name)
	}
	return err
}

// Authenticate checks a user name and password. Every failure a person
// could cause is ErrBadCredentials, with the same work done whether or not
// the user exists; other failures (storage, a cancelled context) are
// returned wrapped.
func (d *Directory) Authenticate(ctx context.Context, name, password string) (store.User, error) {
	u, _, err := d.checkPassword(ctx, name, password) // security.go: lock-outs apply
	switch {
	case err == nil:
		d.record(ctx, audit.SignInSucceeded, u.ID, u.Name)
	case errors.Is(err, ErrBadCredentials):
		d.record(ctx, audit.SignInFailed, u.ID, truncateName(name))
		return store.User{}, err
	}
	return u, err
}

// truncateName keeps what a person typed as a user name short in records.
func truncateName(name string) string {
	// Only what could be a user name: a password typed into the name
	// field (spaces, punctuation) must not reach the audit trail.
	if ValidateName(name) != nil {
		return "(invalid user name)"
	}
	return name
}
