// Package accounts owns who may use which AWS role: the AWS accounts,
// groups of users, and assignments of a role in an account to a user or a
// group, and it issues the short-term credentials of an assigned role
// through the account's credential source, recording each issue in the
// audit trail. It is the SSO portal's domain: internal/portal serves it to
// AWS clients, the admin commands administer it. It never sees HTTP.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/credentials"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Store is what the service needs from storage.
type Store interface {
	store.Portal
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserByName(ctx context.Context, name string) (store.User, error)
}

// Config is the service's policy.
type Config struct {
	// Source issues credentials (a credentials.Router picks each account's);
	// nil: none can be issued.
	Source credentials.Source
	// Audit receives CredentialsIssued; nil drops it.
	Audit audit.Recorder
}

// Service manages accounts, groups and assignments and issues credentials.
type Service struct {
	st   Store
	keys *secret.Keys
	cfg  Config
	now  func() time.Time
	log  *slog.Logger
}

// New returns the service. keys seals stored static credentials; now is the
// clock (time.Now when nil).
func New(st Store, keys *secret.Keys, cfg Config, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Audit == nil {
		cfg.Audit = audit.Discard{}
	}
	return &Service{st: st, keys: keys, cfg: cfg, now: now, log: log}
}

// What the portal's callers are told when a request cannot be met. Each is
// the cause of a wrapped error; compare with errors.Is.
var (
	ErrNoAccount   = errors.New("no such account")
	ErrNoRole      = errors.New("no such role in the account")
	ErrNotAssigned = errors.New("the role is not assigned to the user")
	ErrNoUser      = errors.New("the user no longer exists or is disabled")
	// ErrSource: the account's credential source failed (its cause is for
	// the log, not the caller).
	ErrSource = errors.New("the credential source failed")
)

// ---- validation ----

// ValidateAccountID checks an AWS account id: exactly 12 digits.
func ValidateAccountID(id string) error {
	if len(id) != 12 || strings.Trim(id, "0123456789") != "" {
		return fmt.Errorf("account id %q is not 12 digits", id)
	}
	return nil
}

// ValidateRoleName checks an IAM role name: 1 to 64 characters of
// A–Z a–z 0–9 and _ + = , . @ -.
func ValidateRoleName(name string) error {
	if !iamName(name, 64) {
		return fmt.Errorf("role name %q must be 1 to 64 characters of letters, digits and _+=,.@-", name)
	}
	return nil
}

// ValidateGroupName checks a group name: 1 to 128 characters of
// A–Z a–z 0–9 and _ + = , . @ - (as IAM group names).
func ValidateGroupName(name string) error {
	if !iamName(name, 128) {
		return fmt.Errorf("group name %q must be 1 to 128 characters of letters, digits and _+=,.@-", name)
	}
	return nil
}

func iamName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			return false
		}
	}
	return true
}

func validateAccountName(name string) error {
	if name == "" || len(name) > 128 || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return fmt.Errorf("account name must be 1 to 128 bytes of text without control characters")
	}
	return nil
}

// validateEmail checks an optional address (the portal sends 1 to 254
// characters, or nothing).
func validateEmail(email string) error {
	if email == "" {
		return nil
	}
	if len(email) > 254 || !strings.Contains(email, "@") || !utf8.ValidString(email) ||
		strings.ContainsFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Errorf("email %q is not an email address of at most 254 characters", email)
	}
	return nil
}

// ---- the portal ----

// Caller is who asks the portal: the person and the client their access
// token was issued to.
type Caller struct {
	UserID   string
	ClientID string
}

// UserAccounts returns, ordered by id, at most limit accounts after the
// id `after` in which the user holds a role.
func (s *Service) UserAccounts(ctx context.Context, userID, after string, limit int) ([]store.Account, error) {
	as, err := s.st.ListUserAccounts(ctx, userID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("accounts: list accounts: %w", err)
	}
	return as, nil
}

// UserRoles returns, ordered by name, at most limit roles named after
// `after` that the user holds in the account: ErrNoAccount if the account
// does not exist, none if the user holds no role there.
func (s *Service) UserRoles(ctx context.Context, userID, accountID, after string, limit int) ([]store.AccountRole, error) {
	if ValidateAccountID(accountID) != nil {
		return nil, fmt.Errorf("accounts: list roles: %w", ErrNoAccount)
	}
	roles, err := s.st.ListUserRoles(ctx, userID, accountID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("accounts: list roles: %w", err)
	}
	if len(roles) == 0 {
		// Only an empty answer needs to know whether the account exists.
		if _, err := s.account(ctx, accountID); err != nil {
			return nil, fmt.Errorf("accounts: list roles: %w", err)
		}
	}
	return roles, nil
}

// account returns the account, or ErrNoAccount.
func (s *Service) account(ctx context.Context, id string) (store.Account, error) {
	a, err := s.st.GetAccount(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, ErrNoAccount
	}
	return a, err
}

// Credentials issues the credentials of a role the caller holds in an
// account, through the account's source, for the longest duration of the
// assignments that grant it, and records the issue (user, client, account,
// role, source, expiry; the caller's address comes from ctx). It refuses
// with ErrNoAccount or ErrNoRole what does not exist, with ErrNotAssigned a
// role the caller does not hold, with ErrNoUser a caller who is gone.
func (s *Service) Credentials(ctx context.Context, c Caller, accountID, roleName string) (credentials.Credentials, error) {
	const op = "accounts: credentials"
	if ValidateAccountID(accountID) != nil {
		return credentials.Credentials{}, fmt.Errorf("%s: %w", op, ErrNoAccount)
	}
	role, err := s.st.GetUserRole(ctx, c.UserID, accountID, roleName)
	if errors.Is(err, store.ErrNotFound) {
		return credentials.Credentials{}, fmt.Errorf("%s: %w", op, s.whyNot(ctx, accountID, roleName))
	}
	if err != nil {
		return credentials.Credentials{}, fmt.Errorf("%s: %w", op, err)
	}
	u, err := s.st.GetUser(ctx, c.UserID)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Disabled {
		return credentials.Credentials{}, fmt.Errorf("%s: %w", op, ErrNoUser)
	}
	if err != nil {
		return credentials.Credentials{}, fmt.Errorf("%s: %w", op, err)
	}
	if s.cfg.Source == nil {
		return credentials.Credentials{}, fmt.Errorf("%s: %w: no credential source is configured", op, ErrSource)
	}
	d, _ := credentials.ClampDuration(role.Duration)
	creds, err := s.cfg.Source.Credentials(ctx, credentials.Request{AccountID: accountID, RoleName: roleName, UserName: u.Name, Duration: d})
	if err != nil {
		return credentials.Credentials{}, fmt.Errorf("%s: %w: %w", op, ErrSource, err)
	}
	s.cfg.Audit.Record(ctx, audit.Event{
		Type:     audit.CredentialsIssued,
		Time:     s.now(),
		UserID:   c.UserID,
		ClientID: c.ClientID,
		Detail: fmt.Sprintf("account=%s role=%s source=%s access_key_id=%s expires=%s",
			accountID, roleName, creds.Source, creds.AccessKeyID, creds.Expiration.UTC().Format(time.RFC3339)),
	})
	return creds, nil
}

// whyNot explains why a user does not hold a role: the account or the role
// does not exist, or someone else holds it.
func (s *Service) whyNot(ctx context.Context, accountID, roleName string) error {
	if _, err := s.account(ctx, accountID); err != nil {
		return err
	}
	if ValidateRoleName(roleName) != nil {
		return ErrNoRole
	}
	exists, err := s.st.AccountHasRole(ctx, accountID, roleName)
	switch {
	case err != nil:
		return err
	case !exists:
		return ErrNoRole
	}
	return ErrNotAssigned
}
