package store

import (
	"context"
	"time"
)

// Security stores rate-limit counters, lock-outs, MFA enrolments and the audit trail.
type Security interface {
	RateLimits
	UserSecurity
	MFA
	AuditEvents
	// DeleteExpiredSecurity removes at most limit rows of each kind that
	// are due: rate-limit counters past their expiry (as of now) and, when
	// auditBefore is not zero, audit events recorded before it. It returns
	// the number of rows removed.
	DeleteExpiredSecurity(ctx context.Context, now, auditBefore time.Time, limit int) (int, error)
}

// RateRule is the rule one rate-limit counter is hit under: at most Limit
// hits in each fixed window of Window, starting with the first hit. The hit
// past the limit is refused and blocks the key until the window ends; each
// further window that overflows again before the counter is forgotten
// blocks longer (strike n adds (2^(n-1) - 1) windows, at most MaxExtra).
// The counter is forgotten one quiet window after its last window or block
// ended.
type RateRule struct {
	Limit    int           // at least 1
	Window   time.Duration // positive, whole microseconds
	MaxExtra time.Duration // 0: a plain fixed window, never longer
}

// RateHit is what HitRateLimit did.
type RateHit struct {
	// Allowed: the hit was within the limit. When false, the key is
	// blocked until BlockedUntil.
	Allowed bool
	// Overflow: this hit went over the limit and started the block (the
	// hits refused while blocked do not).
	Overflow     bool
	Hits         int // hits counted in the current window, this one included
	Strikes      int // windows that overflowed since the counter was last forgotten
	BlockedUntil time.Time
}

// RateLimits stores rate-limit counters, keyed by keyed hashes (of an IP
// group, a user, an account name…), so that limits hold across replicas.
type RateLimits interface {
	// HitRateLimit counts one hit on key at now under rule, in one atomic
	// statement. A hit while the key is blocked changes nothing and is not
	// Allowed.
	HitRateLimit(ctx context.Context, key []byte, now time.Time, rule RateRule) (RateHit, error)
	// UndoRateLimitHit takes one hit back (an attempt that turned out to be
	// legitimate). Unknown keys are ignored.
	UndoRateLimitHit(ctx context.Context, key []byte) error
	// ResetRateLimit forgets the counter. Unknown keys are ignored.
	ResetRateLimit(ctx context.Context, key []byte) error
	// CountLiveDeviceGrants returns how many of the client's device grants
	// are pending and unexpired at now.
	CountLiveDeviceGrants(ctx context.Context, clientID string, now time.Time) (int, error)
}

// UserSecurityState is the sign-in security state of one user. Users that
// never had one read as the zero state.
type UserSecurityState struct {
	UserID string
	// Failures counts failed sign-ins (password or second factor) since
	// the last successful one or unlock.
	Failures int
	// LockedAt is when the account was locked (zero: not locked).
	LockedAt time.Time
	// MFARequired: the user must use a second factor even when the
	// instance does not require one for everyone.
	MFARequired bool
}

// UserSecurity stores lock-outs and per-user MFA requirements.
type UserSecurity interface {
	// GetUserSecurity returns the user's state; the zero state (with
	// UserID set) when none was stored.
	GetUserSecurity(ctx context.Context, userID string) (UserSecurityState, error)
	// RecordSignInFailure atomically adds one failure and, when lockAfter
	// is positive and the failures reach it, locks the account at now (a
	// locked account stays locked at its first LockedAt). It returns the
	// new state.
	RecordSignInFailure(ctx context.Context, userID string, now time.Time, lockAfter int) (UserSecurityState, error)
	// ClearSignInFailures sets Failures to 0 and unlocks the account.
	ClearSignInFailures(ctx context.Context, userID string) error
	// SetMFARequired sets the user's MFA requirement.
	SetMFARequired(ctx context.Context, userID string, required bool) error
}

// TOTP is a user's time-based one-time password enrolment (RFC 6238).
type TOTP struct {
	UserID string
	// Secret is the seed, sealed (secret.Keys.Seal with the user id as
	// additional data): the store never sees it in clear.
	Secret      []byte
	CreatedAt   time.Time
	ConfirmedAt time.Time // zero while the enrolment awaits its first code
	// LastStep is the last accepted time step (replay protection).
	LastStep int64
}

// MFA stores second factors: one TOTP enrolment per user and its one-time
// recovery codes (keyed hashes).
type MFA interface {
	// PutTOTP stores an unconfirmed enrolment, replacing an unconfirmed
	// one; ErrAlreadyExists when the user has a confirmed enrolment.
	PutTOTP(ctx context.Context, t TOTP) error
	// GetTOTP returns the user's enrolment; ErrNotFound if none.
	GetTOTP(ctx context.Context, userID string) (TOTP, error)
	// ConfirmTOTP confirms the user's unconfirmed enrolment whose sealed
	// secret is secret, records step as its last accepted step and
	// replaces the user's recovery codes with recoveryHashes, atomically.
	// ErrNotFound when there is no such unconfirmed enrolment.
	ConfirmTOTP(ctx context.Context, userID string, secret []byte, step int64, recoveryHashes [][]byte, now time.Time) error
	// UseTOTPStep records step as accepted for the user's confirmed
	// enrolment, atomically, only if it is later than the last accepted
	// step: ErrConsumed if it is not (a replay), ErrNotFound if the user
	// has no confirmed enrolment.
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	// UseRecoveryCode removes the user's recovery code with that hash;
	// ErrNotFound if there is none (so each code works once).
	UseRecoveryCode(ctx context.Context, userID string, hash []byte) error
	// CountRecoveryCodes returns how many unused recovery codes the user has.
	CountRecoveryCodes(ctx context.Context, userID string) (int, error)
	// DeleteMFA removes the user's enrolment and recovery codes.
	DeleteMFA(ctx context.Context, userID string) error
}

// AuditEvent is one record of the audit trail. It never holds a secret.
type AuditEvent struct {
	ID        int64 // assigned by the store, increasing
	Time      time.Time
	Type      string
	UserID    string
	ClientID  string
	Detail    string
	RequestID string
	ClientIP  string
}

// AuditQuery selects audit events. Zero fields do not filter.
type AuditQuery struct {
	UserID string
	Since  time.Time // events at or after
	Limit  int       // at most this many, the most recent; 0: all
}

// AuditEvents stores the audit trail.
type AuditEvents interface {
	// AppendAuditEvents stores events (their IDs are ignored) in one
	// transaction.
	AppendAuditEvents(ctx context.Context, events []AuditEvent) error
	// ListAuditEvents returns the events q selects in the order they were
	// recorded.
	ListAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}
