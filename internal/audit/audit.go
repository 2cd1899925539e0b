// Package audit names the security events ssooidc records — sign-ins,
// approvals and denials, tokens issued, refreshed and revoked, reuse
// detected, administration — and defines the Recorder the engine and the
// directory report them to. The server's recorder turns them into log
// records and metrics. An event never carries a secret.
package audit

import (
	"context"
	"time"
)

// Type names an event.
type Type string

// The events.
const (
	ClientRegistered Type = "client.registered"

	DeviceStarted  Type = "device.started"
	DeviceApproved Type = "device.approved"
	DeviceDenied   Type = "device.denied"
	DeviceExpired  Type = "device.expired" // a poll answered ExpiredTokenException
	DeviceRedeemed Type = "device.redeemed"

	CodeApproved Type = "authcode.approved"
	CodeDenied   Type = "authcode.denied"
	CodeReused   Type = "authcode.reused" // second use: the first use's tokens are revoked

	TokenIssued    Type = "token.issued"
	TokenRefreshed Type = "token.refreshed"
	TokenReused    Type = "token.reuse_detected" // a rotated refresh token came back: family revoked
	TokenRevoked   Type = "token.revoked"

	SignInSucceeded Type = "signin.succeeded"
	SignInFailed    Type = "signin.failed"
	SignOut         Type = "signout"

	UserAdded           Type = "user.added"
	UserPasswordChanged Type = "user.password_changed"
	UserDisabled        Type = "user.disabled"
	UserEnabled         Type = "user.enabled"
	UserDeleted         Type = "user.deleted"

	// Abuse resistance and second factors (issue 7).
	SignInLocked    Type = "signin.locked"      // too many failures: the account is locked until an admin unlocks it
	RateLimited     Type = "ratelimit.exceeded" // a limit was exceeded; Detail names it (the wait that follows is not recorded again)
	MFAEnrolled     Type = "mfa.enrolled"
	MFAFailed       Type = "mfa.failed" // a wrong or replayed second-factor code
	MFARecoveryUsed Type = "mfa.recovery_used"
	MFAReset        Type = "mfa.reset"
	MFARequired     Type = "mfa.required" // an admin set or cleared the user's requirement; Detail says which
	UserUnlocked    Type = "user.unlocked"
	UserRevoked     Type = "user.revoked" // an admin ended the user's sessions and revoked its tokens

	// CredentialsIssued: the SSO portal handed out AWS credentials; Detail
	// names the account, role, source and expiry, never the secret.
	CredentialsIssued Type = "credentials.issued"
)

// Event is one security event.
type Event struct {
	Type     Type
	Time     time.Time
	UserID   string
	ClientID string
	// Detail is a short, secret-free note (a grant type, a user name).
	Detail string
}

// Recorder receives events. Implementations must be safe for concurrent
// use and must not block for long.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

// Discard is a Recorder that drops every event.
type Discard struct{}

// Record does nothing.
func (Discard) Record(context.Context, Event) {}
