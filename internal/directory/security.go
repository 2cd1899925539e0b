package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/ratelimit"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Rate-limit scopes of sign-in.
const (
	scopeSignInIP      = "signin-ip"
	scopeSignInAccount = "signin-account"
)

// Attempt is where a sign-in comes from.
type Attempt struct {
	IP string // the client's address (grouped by /64 for IPv6)
}

// SignInStep is what a browser must do after the password was right.
type SignInStep int

// The steps.
const (
	// SignedIn: nothing more; start the session.
	SignedIn SignInStep = iota + 1
	// NeedSecondFactor: the user is enrolled; a TOTP or recovery code
	// comes next (VerifySecondFactor).
	NeedSecondFactor
	// NeedEnrolment: a second factor is required and the user has none
	// yet; enrolment comes next (BeginTOTP, ConfirmTOTP).
	NeedEnrolment
)

// SignInResult is a password step that succeeded.
type SignInResult struct {
	User store.User
	Next SignInStep
}

// checkPassword checks a user name and password and the account's lock.
// A locked account fails like a wrong password, after the same work, so
// neither the lock nor a right guess at a locked account shows. On
// ErrBadCredentials u is the account when it exists (for counting the
// failure), the zero User otherwise.
func (d *Directory) checkPassword(ctx context.Context, name, password string) (store.User, store.UserSecurityState, error) {
	u, err := d.authenticate(ctx, name, password)
	if err != nil && !errors.Is(err, ErrBadCredentials) {
		return store.User{}, store.UserSecurityState{}, err
	}
	if u.ID == "" {
		return u, store.UserSecurityState{}, err
	}
	sec, serr := d.st.GetUserSecurity(ctx, u.ID)
	if serr != nil {
		return store.User{}, store.UserSecurityState{}, fmt.Errorf("directory: sign-in state: %w", serr)
	}
	if err == nil && !sec.LockedAt.IsZero() {
		err = ErrBadCredentials
	}
	return u, sec, err
}

// signInChecks are the rate limits a sign-in step counts against.
func (d *Directory) signInChecks(name string, from Attempt) []ratelimit.Check {
	account := name
	if ValidateName(name) != nil {
		account = "" // no such account can exist: the address limit is enough
	}
	return []ratelimit.Check{
		{Scope: scopeSignInIP, Subject: ratelimit.IPGroup(from.IP), Rule: d.cfg.SignInPerIP},
		{Scope: scopeSignInAccount, Subject: account, Rule: d.cfg.SignInPerAccount},
	}
}

// limited turns a refusal of the limiter into the sign-in's error and
// records the overflow that started the wait.
func (d *Directory) limited(ctx context.Context, err error, userID, name string) error {
	if lim, ok := ratelimit.AsLimited(err); ok {
		if lim.Overflow {
			d.record(ctx, audit.RateLimited, userID, lim.Scope+" "+truncateName(name))
		}
		return fmt.Errorf("directory: sign-in: %w", lim)
	}
	return fmt.Errorf("directory: sign-in: %w", err)
}

// SignIn is the password step of a browser sign-in, under the sign-in
// defences: attempts per client address and per user name are counted
// before the password is checked (beyond the limits the answer is a
// *ratelimit.Limited and no password is hashed), failures count towards
// the account's lock-out, and every failure a person could cause is
// ErrBadCredentials, with the same work done whether or not the user
// exists or is locked.
//
// A right password uses up no allowance. Next says whether a second
// factor or an enrolment must follow before the session starts.
func (d *Directory) SignIn(ctx context.Context, name, password string, from Attempt) (SignInResult, error) {
	ticket, err := d.cfg.Limiter.Hit(ctx, d.signInChecks(name, from)...)
	if err != nil {
		return SignInResult{}, d.limited(ctx, err, "", name)
	}
	u, sec, err := d.checkPassword(ctx, name, password)
	switch {
	case errors.Is(err, ErrBadCredentials):
		d.record(ctx, audit.SignInFailed, u.ID, truncateName(name))
		if u.ID != "" && sec.LockedAt.IsZero() {
			if err := d.countFailure(ctx, u); err != nil {
				return SignInResult{}, err
			}
		}
		return SignInResult{}, ErrBadCredentials
	case err != nil:
		ticket.Undo(context.WithoutCancel(ctx))
		return SignInResult{}, err
	}
	ticket.Undo(context.WithoutCancel(ctx))
	next, err := d.nextStep(ctx, u, sec)
	if err != nil {
		return SignInResult{}, err
	}
	if next == SignedIn {
		if err := d.signedIn(ctx, u, sec, "password"); err != nil {
			return SignInResult{}, err
		}
	}
	return SignInResult{User: u, Next: next}, nil
}

// nextStep decides what follows a right password.
func (d *Directory) nextStep(ctx context.Context, u store.User, sec store.UserSecurityState) (SignInStep, error) {
	t, err := d.st.GetTOTP(ctx, u.ID)
	switch {
	case err == nil && !t.ConfirmedAt.IsZero():
		return NeedSecondFactor, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return 0, fmt.Errorf("directory: sign-in: %w", err)
	case d.cfg.MFARequired || sec.MFARequired:
		return NeedEnrolment, nil
	}
	return SignedIn, nil
}

// countFailure adds a failure to the account's lock-out count and records
// the lock when this failure set it.
func (d *Directory) countFailure(ctx context.Context, u store.User) error {
	sec, err := d.st.RecordSignInFailure(ctx, u.ID, d.now(), d.cfg.LockoutAfter)
	if err != nil {
		return fmt.Errorf("directory: sign-in: %w", err)
	}
	if !sec.LockedAt.IsZero() && sec.Failures == d.cfg.LockoutAfter {
		d.log.WarnContext(ctx, "account locked after repeated sign-in failures", "user_id", u.ID, "user", u.Name, "failures", sec.Failures)
		d.record(ctx, audit.SignInLocked, u.ID, fmt.Sprintf("%s after %d failures", u.Name, sec.Failures))
	}
	return nil
}

// signedIn completes a sign-in: the account's failures and its name's
// counter are forgotten (never the address's), and the success recorded.
func (d *Directory) signedIn(ctx context.Context, u store.User, sec store.UserSecurityState, how string) error {
	if sec.Failures > 0 {
		if err := d.st.ClearSignInFailures(ctx, u.ID); err != nil {
			return fmt.Errorf("directory: sign-in: %w", err)
		}
	}
	if err := d.cfg.Limiter.Reset(ctx, scopeSignInAccount, u.Name); err != nil {
		d.log.WarnContext(ctx, "sign-in counter not reset", "user_id", u.ID, "err", err)
	}
	d.record(ctx, audit.SignInSucceeded, u.ID, u.Name+" ("+how+")")
	return nil
}

// ---- administration ----

// SecurityState returns a user's lock-out and MFA state.
type SecurityState struct {
	store.UserSecurityState
	MFA MFAStatus
}

// UserSecurity returns the named user's lock-out and second-factor state.
func (d *Directory) UserSecurity(ctx context.Context, name string) (SecurityState, error) {
	u, err := d.UserByName(ctx, name)
	if err != nil {
		return SecurityState{}, err
	}
	sec, err := d.st.GetUserSecurity(ctx, u.ID)
	if err != nil {
		return SecurityState{}, fmt.Errorf("directory: security state of %q: %w", name, err)
	}
	m, err := d.MFAStatus(ctx, u.ID)
	if err != nil {
		return SecurityState{}, err
	}
	return SecurityState{UserSecurityState: sec, MFA: m}, nil
}

// Unlock lifts a lock-out and forgets the user's failed sign-ins.
func (d *Directory) Unlock(ctx context.Context, name string) error {
	u, err := d.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if err := d.st.ClearSignInFailures(ctx, u.ID); err != nil {
		return fmt.Errorf("directory: unlock %q: %w", name, err)
	}
	if err := d.cfg.Limiter.Reset(ctx, scopeSignInAccount, u.Name); err != nil {
		return fmt.Errorf("directory: unlock %q: %w", name, err)
	}
	d.log.InfoContext(ctx, "user unlocked", "user_id", u.ID, "user", u.Name)
	d.record(ctx, audit.UserUnlocked, u.ID, u.Name)
	return nil
}

// Revoke ends every browser session of the user and revokes every token
// family issued to it: what to do when a device or a password is stolen.
func (d *Directory) Revoke(ctx context.Context, name string) error {
	u, err := d.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if err := d.st.DeleteUserSessions(ctx, u.ID); err != nil {
		return fmt.Errorf("directory: revoke %q: end sessions: %w", name, err)
	}
	if err := d.st.RevokeUserTokens(ctx, u.ID, d.now()); err != nil {
		return fmt.Errorf("directory: revoke %q: revoke tokens: %w", name, err)
	}
	d.log.InfoContext(ctx, "user's sessions ended and tokens revoked", "user_id", u.ID, "user", u.Name)
	d.record(ctx, audit.UserRevoked, u.ID, u.Name)
	return nil
}

// SignOut ends the browser session with that cookie value and records it.
func (d *Directory) SignOut(ctx context.Context, cookieValue, userID string) error {
	if err := d.EndSession(ctx, cookieValue); err != nil {
		return err
	}
	d.record(ctx, audit.SignOut, userID, "")
	return nil
}
