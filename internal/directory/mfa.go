package directory

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Second factors: TOTP (RFC 6238) enrolled from the browser after the
// password, with one-time recovery codes. The seed is sealed with the
// instance key (AES-GCM, the user id as additional data) before it reaches
// the store; recovery codes are kept as keyed hashes; each accepted time
// step is recorded so a code cannot be replayed.

// Errors of the second-factor step.
var (
	// ErrBadSecondFactor: a wrong, expired, replayed or malformed code.
	ErrBadSecondFactor = errors.New("wrong verification code")
	// ErrAlreadyEnrolled: the user has a confirmed second factor.
	ErrAlreadyEnrolled = errors.New("a second factor is already set up")
)

// Hash and seal purposes.
const (
	hashRecovery   = "mfa-recovery"
	sealPending    = "signin-pending"
	prefixPending  = "sso_sp_"
	pendingLife    = 10 * time.Minute
	pendingMaxSize = 512
	// staleEnrolment: an unconfirmed seed older than this is replaced
	// rather than shown again.
	staleEnrolment = time.Hour
)

// MFAStatus is a user's second-factor state.
type MFAStatus struct {
	Enrolled          bool // a confirmed TOTP enrolment
	Required          bool // for this user, or for everyone
	RecoveryCodesLeft int
}

// MFAStatus returns the user's second-factor state.
func (d *Directory) MFAStatus(ctx context.Context, userID string) (MFAStatus, error) {
	var st MFAStatus
	t, err := d.st.GetTOTP(ctx, userID)
	switch {
	case err == nil:
		st.Enrolled = !t.ConfirmedAt.IsZero()
	case !errors.Is(err, store.ErrNotFound):
		return MFAStatus{}, fmt.Errorf("directory: mfa status: %w", err)
	}
	sec, err := d.st.GetUserSecurity(ctx, userID)
	if err != nil {
		return MFAStatus{}, fmt.Errorf("directory: mfa status: %w", err)
	}
	st.Required = d.cfg.MFARequired || sec.MFARequired
	if st.Enrolled {
		if st.RecoveryCodesLeft, err = d.st.CountRecoveryCodes(ctx, userID); err != nil {
			return MFAStatus{}, fmt.Errorf("directory: mfa status: %w", err)
		}
	}
	return st, nil
}

// TOTPSetup is what an enrolment page shows.
type TOTPSetup struct {
	Secret string // base32, as typed into an app by hand
	URI    string // otpauth://…, for the QR code
}

// BeginTOTP starts (or shows again) an enrolment for the user. The seed
// is stored sealed and unconfirmed; ConfirmTOTP with a first code turns it
// on. ErrAlreadyEnrolled when the user has a confirmed one.
func (d *Directory) BeginTOTP(ctx context.Context, userID string) (TOTPSetup, error) {
	u, err := d.st.GetUser(ctx, userID)
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("directory: begin totp: %w", err)
	}
	t, err := d.st.GetTOTP(ctx, u.ID)
	switch {
	case err == nil && !t.ConfirmedAt.IsZero():
		return TOTPSetup{}, ErrAlreadyEnrolled
	case err == nil && d.now().Sub(t.CreatedAt) < staleEnrolment:
		// The person may have scanned it already: show the same seed.
		if seed, err := d.keys.Open(t.Secret, []byte(u.ID)); err == nil {
			return d.setup(u, seed), nil
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return TOTPSetup{}, fmt.Errorf("directory: begin totp: %w", err)
	}
	seed := newTOTPSecret()
	err = d.st.PutTOTP(ctx, store.TOTP{UserID: u.ID, Secret: d.keys.Seal(seed, []byte(u.ID)), CreatedAt: d.now()})
	if errors.Is(err, store.ErrAlreadyExists) {
		return TOTPSetup{}, ErrAlreadyEnrolled
	}
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("directory: begin totp: %w", err)
	}
	return d.setup(u, seed), nil
}

func (d *Directory) setup(u store.User, seed []byte) TOTPSetup {
	return TOTPSetup{Secret: base32NoPad.EncodeToString(seed), URI: totpURI(d.cfg.TOTPIssuer, u.Name, seed)}
}

// ConfirmTOTP turns the user's pending enrolment on with its first code
// and returns the recovery codes: shown once, stored only as keyed hashes.
// ErrBadSecondFactor when the code is wrong.
func (d *Directory) ConfirmTOTP(ctx context.Context, userID, code string) ([]string, error) {
	t, err := d.st.GetTOTP(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrBadSecondFactor
	}
	if err != nil {
		return nil, fmt.Errorf("directory: confirm totp: %w", err)
	}
	if !t.ConfirmedAt.IsZero() {
		return nil, ErrAlreadyEnrolled
	}
	seed, err := d.keys.Open(t.Secret, []byte(userID))
	if err != nil {
		return nil, fmt.Errorf("directory: confirm totp: %w", err)
	}
	kind, c := parseSecondFactor(code)
	if kind != "totp" {
		return nil, ErrBadSecondFactor
	}
	step, ok := matchTOTP(seed, c, d.now())
	if !ok {
		return nil, ErrBadSecondFactor
	}
	codes := make([]string, recoveryCodes)
	hashes := make([][]byte, recoveryCodes)
	for i := range codes {
		codes[i] = newRecoveryCode()
		_, norm := parseSecondFactor(codes[i])
		hashes[i] = d.recoveryHash(userID, norm)
	}
	if err := d.st.ConfirmTOTP(ctx, userID, t.Secret, step, hashes, d.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrBadSecondFactor // replaced or confirmed meanwhile
		}
		return nil, fmt.Errorf("directory: confirm totp: %w", err)
	}
	d.log.InfoContext(ctx, "second factor enrolled", "user_id", userID)
	d.record(ctx, audit.MFAEnrolled, userID, "totp")
	return codes, nil
}

func (d *Directory) recoveryHash(userID, normalized string) []byte {
	return d.keys.Hash(hashRecovery, userID+"\x00"+normalized)
}

// VerifySecondFactor is the second step of a sign-in for userID: a TOTP
// code (each time step accepted once) or an unused recovery code, under
// the same limits and lock-out as the password. On success the sign-in is
// complete; every failure is ErrBadSecondFactor (or a *ratelimit.Limited).
func (d *Directory) VerifySecondFactor(ctx context.Context, userID, code string, from Attempt) error {
	u, err := d.st.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrBadSecondFactor
	}
	if err != nil {
		return fmt.Errorf("directory: second factor: %w", err)
	}
	ticket, err := d.cfg.Limiter.Hit(ctx, d.signInChecks(u.Name, from)...)
	if err != nil {
		return d.limited(ctx, err, u.ID, u.Name)
	}
	sec, err := d.st.GetUserSecurity(ctx, u.ID)
	if err != nil {
		ticket.Undo(context.WithoutCancel(ctx))
		return fmt.Errorf("directory: second factor: %w", err)
	}
	how, err := d.checkSecondFactor(ctx, u.ID, code)
	if err == nil && (u.Disabled || !sec.LockedAt.IsZero()) {
		err, how = ErrBadSecondFactor, "account disabled or locked"
	}
	if errors.Is(err, ErrBadSecondFactor) {
		d.record(ctx, audit.MFAFailed, u.ID, how)
		if sec.LockedAt.IsZero() {
			if err := d.countFailure(ctx, u); err != nil {
				return err
			}
		}
		return ErrBadSecondFactor
	}
	ticket.Undo(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	if how == "recovery code" {
		d.record(ctx, audit.MFARecoveryUsed, u.ID, "")
	}
	return d.signedIn(ctx, u, sec, how)
}

// checkSecondFactor checks code against the user's enrolment; how names
// what matched, or why nothing did.
func (d *Directory) checkSecondFactor(ctx context.Context, userID, code string) (how string, err error) {
	kind, c := parseSecondFactor(code)
	switch kind {
	case "totp":
		t, err := d.st.GetTOTP(ctx, userID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && t.ConfirmedAt.IsZero()) {
			return "not enrolled", ErrBadSecondFactor
		}
		if err != nil {
			return "", fmt.Errorf("directory: second factor: %w", err)
		}
		seed, err := d.keys.Open(t.Secret, []byte(userID))
		if err != nil {
			return "", fmt.Errorf("directory: second factor: %w", err)
		}
		step, ok := matchTOTP(seed, c, d.now())
		if !ok {
			return "wrong code", ErrBadSecondFactor
		}
		err = d.st.UseTOTPStep(ctx, userID, step)
		switch {
		case errors.Is(err, store.ErrConsumed):
			return "replayed code", ErrBadSecondFactor
		case errors.Is(err, store.ErrNotFound):
			return "not enrolled", ErrBadSecondFactor
		case err != nil:
			return "", fmt.Errorf("directory: second factor: %w", err)
		}
		return "totp", nil
	case "recovery":
		err := d.st.UseRecoveryCode(ctx, userID, d.recoveryHash(userID, c))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return "wrong recovery code", ErrBadSecondFactor
		case err != nil:
			return "", fmt.Errorf("directory: second factor: %w", err)
		}
		return "recovery code", nil
	}
	return "malformed code", ErrBadSecondFactor
}

// ResetMFA removes the named user's second factor and recovery codes (a
// lost phone); the user enrols again at the next sign-in if one is
// required, or from the security page.
func (d *Directory) ResetMFA(ctx context.Context, name string) error {
	u, err := d.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if err := d.st.DeleteMFA(ctx, u.ID); err != nil {
		return fmt.Errorf("directory: reset mfa of %q: %w", name, err)
	}
	d.log.InfoContext(ctx, "second factor reset", "user_id", u.ID, "user", u.Name)
	d.record(ctx, audit.MFAReset, u.ID, u.Name)
	return nil
}

// SetMFARequired sets whether the named user must use a second factor.
func (d *Directory) SetMFARequired(ctx context.Context, name string, required bool) error {
	u, err := d.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if err := d.st.SetMFARequired(ctx, u.ID, required); err != nil {
		return fmt.Errorf("directory: require mfa of %q: %w", name, err)
	}
	d.record(ctx, audit.MFARequired, u.ID, fmt.Sprintf("%s required=%t", u.Name, required))
	return nil
}

// ---- the state between the password and the next step ----

// SealPending returns a value for a short-lived cookie saying that this
// browser got the password of userID right and must take step next. It
// is sealed with the instance key and bound to anchor (the browser's
// pre-session cookie), so it is useless anywhere else, to anyone else, or
// after pendingLife.
func (d *Directory) SealPending(userID string, step SignInStep, anchor string) string {
	exp := d.now().Add(pendingLife).Unix()
	plain := strconv.Itoa(int(step)) + "\n" + strconv.FormatInt(exp, 10) + "\n" + userID
	return prefixPending + base64.RawURLEncoding.EncodeToString(d.keys.Seal([]byte(plain), []byte(sealPending+"\x00"+anchor)))
}

// OpenPending returns what SealPending sealed, if value is genuine, bound
// to anchor and not expired.
func (d *Directory) OpenPending(value, anchor string) (userID string, step SignInStep, ok bool) {
	if anchor == "" || len(value) > pendingMaxSize || !strings.HasPrefix(value, prefixPending) {
		return "", 0, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(value[len(prefixPending):])
	if err != nil {
		return "", 0, false
	}
	plain, err := d.keys.Open(sealed, []byte(sealPending+"\x00"+anchor))
	if err != nil {
		return "", 0, false
	}
	parts := strings.SplitN(string(plain), "\n", 3)
	if len(parts) != 3 {
		return "", 0, false
	}
	s, err1 := strconv.Atoi(parts[0])
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || !d.now().Before(time.Unix(exp, 0)) || parts[2] == "" {
		return "", 0, false
	}
	return parts[2], SignInStep(s), true
}

// CompleteEnrolment finishes a sign-in that had to enrol first: called
// after ConfirmTOTP for a user whose pending step was NeedEnrolment.
func (d *Directory) CompleteEnrolment(ctx context.Context, userID string) (store.User, error) {
	u, err := d.st.GetUser(ctx, userID)
	if err != nil {
		return store.User{}, fmt.Errorf("directory: complete enrolment: %w", err)
	}
	sec, err := d.st.GetUserSecurity(ctx, userID)
	if err != nil {
		return store.User{}, fmt.Errorf("directory: complete enrolment: %w", err)
	}
	if u.Disabled || !sec.LockedAt.IsZero() {
		return store.User{}, ErrBadCredentials
	}
	return u, d.signedIn(ctx, u, sec, "password, then enrolment")
}
