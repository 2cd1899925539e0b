package directory

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/ratelimit"
	"github.com/ssooidc/ssooidc/internal/store"
)

// auditLog collects audit events.
type auditLog struct {
	mu     sync.Mutex
	events []audit.Event
}

func (a *auditLog) Record(_ context.Context, e audit.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

func (a *auditLog) count(t audit.Type) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, e := range a.events {
		if e.Type == t {
			n++
		}
	}
	return n
}

func (a *auditLog) all() []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Event(nil), a.events...)
}

// securedFixture is a directory with the sign-in defences on.
func securedFixture(t *testing.T, adjust func(*Config)) (*fixture, *auditLog) {
	t.Helper()
	f := newFixture(t, Config{})
	log := &auditLog{}
	cfg := Config{
		Audit:            log,
		Limiter:          ratelimit.New(f.st, f.keys, f.clock.Now),
		SignInPerIP:      ratelimit.Rule{Limit: 10, MaxExtra: time.Hour},
		SignInPerAccount: ratelimit.Rule{Limit: 3, MaxExtra: time.Hour},
		LockoutAfter:     5,
		TOTPIssuer:       "sso.example.test",
	}
	if adjust != nil {
		adjust(&cfg)
	}
	f.dir = New(f.st, f.keys, cfg, f.clock.Now, nil)
	return f, log
}

var (
	home  = Attempt{IP: "192.0.2.10"}
	other = Attempt{IP: "192.0.2.20"}
)

func wantLimited(t *testing.T, what string, err error) *ratelimit.Limited {
	t.Helper()
	lim, ok := ratelimit.AsLimited(err)
	if !ok {
		t.Fatalf("%s: error %v, want a rate limit", what, err)
	}
	return lim
}

func TestSignInPerAccountLimit(t *testing.T) {
	t.Parallel()
	f, _ := securedFixture(t, nil)
	ctx := t.Context()
	f.addUser(t, "alice", "correct horse")
	// The same for an existing and an unknown name.
	for _, name := range []string{"alice", "nobody"} {
		for i := range 3 {
			if _, err := f.dir.SignIn(ctx, name, "wrong password", Attempt{IP: "198.51.100." + string(rune('1'+i))}); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("%s failure %d: %v", name, i, err)
			}
		}
		// From yet another address: the account's limit holds, and
		// checking stops before the password is hashed.
		_, err := f.dir.SignIn(ctx, name, "correct horse", Attempt{IP: "198.51.100.9"})
		if lim := wantLimited(t, name+" after 3 failures", err); lim.RetryAfter != time.Minute {
			t.Errorf("%s: retry after %v, want 1m", name, lim.RetryAfter)
		}
	}
	f.clock.Advance(time.Minute)
	res, err := f.dir.SignIn(ctx, "alice", "correct horse", home)
	if err != nil || res.Next != SignedIn {
		t.Fatalf("SignIn after the wait = %+v, %v", res, err)
	}
	// Success forgets the account's count.
	for i := range 2 {
		if _, err := f.dir.SignIn(ctx, "alice", "typo", home); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("typo %d: %v", i, err)
		}
	}
	if _, err := f.dir.SignIn(ctx, "alice", "correct horse", home); err != nil {
		t.Fatalf("SignIn after 2 typos: %v", err)
	}
}

func TestSignInSprayingLimitedPerAddress(t *testing.T) {
	t.Parallel()
	f, _ := securedFixture(t, nil)
	ctx := t.Context()
	f.addUser(t, "bob", "bob's password")
	for i := range 10 {
		_, err := f.dir.SignIn(ctx, "user"+string(rune('a'+i)), "Winter2026!", home)
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("spray %d: %v", i, err)
		}
	}
	_, err := f.dir.SignIn(ctx, "bob", "bob's password", home)
	wantLimited(t, "sign-in from the spraying address", err)
	// A legitimate person elsewhere is not affected.
	if _, err := f.dir.SignIn(ctx, "bob", "bob's password", other); err != nil {
		t.Errorf("sign-in from another address: %v", err)
	}
	// Nor do successes use up an address's allowance.
	for range 20 {
		if _, err := f.dir.SignIn(ctx, "bob", "bob's password", other); err != nil {
			t.Fatalf("repeated good sign-in: %v", err)
		}
	}
}

func TestLockoutAndUnlock(t *testing.T) {
	t.Parallel()
	f, log := securedFixture(t, func(c *Config) { c.SignInPerAccount = ratelimit.Rule{} })
	ctx := t.Context()
	f.addUser(t, "carol", "carol's password")
	for i := range 5 {
		if _, err := f.dir.SignIn(ctx, "carol", "guess", Attempt{IP: "203.0.113." + string(rune('1'+i))}); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if n := log.count(audit.SignInLocked); n != 1 {
		t.Errorf("%d signin.locked events, want 1", n)
	}
	// Locked: the right password fails exactly like a wrong one.
	_, err := f.dir.SignIn(ctx, "carol", "carol's password", home)
	if !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("SignIn to a locked account = %v, want ErrBadCredentials", err)
	}
	if _, err := f.dir.Authenticate(ctx, "carol", "carol's password"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("Authenticate of a locked account = %v, want ErrBadCredentials", err)
	}
	st, err := f.dir.UserSecurity(ctx, "carol")
	if err != nil || st.LockedAt.IsZero() || st.Failures != 5 {
		t.Errorf("UserSecurity = %+v, %v; want locked after 5 failures", st, err)
	}
	if n := log.count(audit.SignInLocked); n != 1 {
		t.Errorf("%d signin.locked events after more attempts, want still 1", n)
	}
	if err := f.dir.Unlock(ctx, "carol"); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if _, err := f.dir.SignIn(ctx, "carol", "carol's password", home); err != nil {
		t.Errorf("SignIn after Unlock: %v", err)
	}
	if log.count(audit.UserUnlocked) != 1 {
		t.Error("no user.unlocked event")
	}
	if err := f.dir.Unlock(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Unlock(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	f, log := securedFixture(t, nil)
	ctx := t.Context()
	u := f.addUser(t, "dave", "dave's password")
	cookie, _, err := f.dir.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.dir.Revoke(ctx, "dave"); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, _, err := f.dir.Session(ctx, cookie); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after Revoke: %v", err)
	}
	if log.count(audit.UserRevoked) != 1 {
		t.Error("no user.revoked event")
	}
}

// enrol sets up TOTP for u and returns its seed and recovery codes.
func enrol(t *testing.T, f *fixture, u store.User) ([]byte, []string) {
	t.Helper()
	ctx := t.Context()
	setup, err := f.dir.BeginTOTP(ctx, u.ID)
	if err != nil {
		t.Fatalf("BeginTOTP: %v", err)
	}
	seed, err := base32NoPad.DecodeString(setup.Secret)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := f.dir.ConfirmTOTP(ctx, u.ID, totpCode(seed, totpStep(f.clock.Now())))
	if err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	return seed, codes
}

func TestTOTPEnrolment(t *testing.T) {
	t.Parallel()
	f, log := securedFixture(t, nil)
	ctx := t.Context()
	u := f.addUser(t, "erin", "erin's password")
	setup, err := f.dir.BeginTOTP(ctx, u.ID)
	if err != nil {
		t.Fatalf("BeginTOTP: %v", err)
	}
	if !strings.HasPrefix(setup.URI, "otpauth://totp/sso.example.test:erin?") || !strings.Contains(setup.URI, "secret="+setup.Secret) {
		t.Errorf("URI %q", setup.URI)
	}
	again, err := f.dir.BeginTOTP(ctx, u.ID)
	if err != nil || again != setup {
		t.Errorf("BeginTOTP again = %+v, %v; want the same seed (the app may have it already)", again, err)
	}
	seed, _ := base32NoPad.DecodeString(setup.Secret)

	// The seed is sealed at rest, bound to the user.
	stored, err := f.st.GetTOTP(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored.Secret), string(seed)) {
		t.Error("the stored seed contains the seed in clear")
	}
	if _, err := f.keys.Open(stored.Secret, []byte("someone else")); err == nil {
		t.Error("the sealed seed opens for another user id")
	}

	now := totpStep(f.clock.Now())
	if _, err := f.dir.ConfirmTOTP(ctx, u.ID, totpCode(seed, now+3)); !errors.Is(err, ErrBadSecondFactor) {
		t.Errorf("ConfirmTOTP(wrong code) = %v", err)
	}
	// Not yet confirmed: signing in does not ask for it.
	if res, err := f.dir.SignIn(ctx, "erin", "erin's password", home); err != nil || res.Next != SignedIn {
		t.Errorf("SignIn before confirmation = %+v, %v; want SignedIn", res, err)
	}
	codes, err := f.dir.ConfirmTOTP(ctx, u.ID, totpCode(seed, now))
	if err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	if len(codes) != 10 {
		t.Errorf("%d recovery codes, want 10", len(codes))
	}
	if _, err := f.dir.BeginTOTP(ctx, u.ID); !errors.Is(err, ErrAlreadyEnrolled) {
		t.Errorf("BeginTOTP when enrolled = %v", err)
	}
	st, err := f.dir.MFAStatus(ctx, u.ID)
	if err != nil || !st.Enrolled || st.RecoveryCodesLeft != 10 {
		t.Errorf("MFAStatus = %+v, %v", st, err)
	}
	if log.count(audit.MFAEnrolled) != 1 {
		t.Error("no mfa.enrolled event")
	}
	for _, e := range log.all() {
		for _, secret := range append([]string{setup.Secret, "erin's password"}, codes...) {
			if strings.Contains(e.Detail, secret) {
				t.Errorf("event %+v holds a secret", e)
			}
		}
	}
}

func TestSecondFactorSignIn(t *testing.T) {
	t.Parallel()
	f, log := securedFixture(t, func(c *Config) { c.SignInPerAccount.Limit = 20 })
	ctx := t.Context()
	u := f.addUser(t, "frank", "frank's password")
	seed, codes := enrol(t, f, u)

	res, err := f.dir.SignIn(ctx, "frank", "frank's password", home)
	if err != nil || res.Next != NeedSecondFactor || res.User.ID != u.ID {
		t.Fatalf("SignIn = %+v, %v; want NeedSecondFactor", res, err)
	}
	if log.count(audit.SignInSucceeded) != 0 {
		t.Error("signin.succeeded before the second factor")
	}
	// The code that confirmed the enrolment was used: it cannot sign in.
	code := totpCode(seed, totpStep(f.clock.Now()))
	if err := f.dir.VerifySecondFactor(ctx, u.ID, code, home); !errors.Is(err, ErrBadSecondFactor) {
		t.Errorf("replay of the enrolment code = %v, want ErrBadSecondFactor", err)
	}
	f.clock.Advance(30 * time.Second)
	code = totpCode(seed, totpStep(f.clock.Now()))
	if err := f.dir.VerifySecondFactor(ctx, u.ID, code, home); err != nil {
		t.Fatalf("VerifySecondFactor: %v", err)
	}
	if log.count(audit.SignInSucceeded) != 1 {
		t.Error("no signin.succeeded after the second factor")
	}
	// Replayed: refused, even from another address right away.
	if err := f.dir.VerifySecondFactor(ctx, u.ID, code, other); !errors.Is(err, ErrBadSecondFactor) {
		t.Errorf("replayed code = %v, want ErrBadSecondFactor", err)
	}
	// An older code (still within the skew) is refused too: steps only go forward.
	if err := f.dir.VerifySecondFactor(ctx, u.ID, totpCode(seed, totpStep(f.clock.Now())-1), other); !errors.Is(err, ErrBadSecondFactor) {
		t.Errorf("code of the previous step after a later one = %v", err)
	}
	if log.count(audit.MFAFailed) != 3 {
		t.Errorf("%d mfa.failed events, want 3", log.count(audit.MFAFailed))
	}
	// Recovery codes: any case and spacing, each once.
	rc := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
	if err := f.dir.VerifySecondFactor(ctx, u.ID, rc, home); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if err := f.dir.VerifySecondFactor(ctx, u.ID, codes[3], home); !errors.Is(err, ErrBadSecondFactor) {
		t.Errorf("recovery code used twice = %v", err)
	}
	if st, _ := f.dir.MFAStatus(ctx, u.ID); st.RecoveryCodesLeft != 9 {
		t.Errorf("recovery codes left = %d, want 9", st.RecoveryCodesLeft)
	}
	if log.count(audit.MFARecoveryUsed) != 1 {
		t.Error("no mfa.recovery_used event")
	}
	// Reset: no second factor any more.
	if err := f.dir.ResetMFA(ctx, "frank"); err != nil {
		t.Fatalf("ResetMFA: %v", err)
	}
	if res, err := f.dir.SignIn(ctx, "frank", "frank's password", home); err != nil || res.Next != SignedIn {
		t.Errorf("SignIn after reset = %+v, %v; want SignedIn", res, err)
	}
}

func TestSecondFactorFailuresLock(t *testing.T) {
	t.Parallel()
	f, _ := securedFixture(t, func(c *Config) { c.LockoutAfter = 3; c.SignInPerAccount.Limit = 20 })
	ctx := t.Context()
	u := f.addUser(t, "gina", "gina's password")
	seed, _ := enrol(t, f, u)
	for range 3 {
		if err := f.dir.VerifySecondFactor(ctx, u.ID, "000000", home); !errors.Is(err, ErrBadSecondFactor) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	f.clock.Advance(30 * time.Second)
	if err := f.dir.VerifySecondFactor(ctx, u.ID, totpCode(seed, totpStep(f.clock.Now())), home); !errors.Is(err, ErrBadSecondFactor) {
		t.Errorf("right code on a locked account = %v, want ErrBadSecondFactor", err)
	}
	if _, err := f.dir.SignIn(ctx, "gina", "gina's password", home); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("password on a locked account = %v", err)
	}
}

func TestMFARequired(t *testing.T) {
	t.Parallel()
	everyone, _ := securedFixture(t, func(c *Config) { c.MFARequired = true })
	everyone.addUser(t, "hank", "hank's password")
	res, err := everyone.dir.SignIn(t.Context(), "hank", "hank's password", home)
	if err != nil || res.Next != NeedEnrolment {
		t.Errorf("SignIn with mfa_required = %+v, %v; want NeedEnrolment", res, err)
	}

	one, log := securedFixture(t, nil)
	u := one.addUser(t, "ivy", "ivy's password")
	one.addUser(t, "jack", "jack's password")
	if err := one.dir.SetMFARequired(t.Context(), "ivy", true); err != nil {
		t.Fatal(err)
	}
	if res, _ := one.dir.SignIn(t.Context(), "ivy", "ivy's password", home); res.Next != NeedEnrolment {
		t.Errorf("required user: Next = %v, want NeedEnrolment", res.Next)
	}
	if res, _ := one.dir.SignIn(t.Context(), "jack", "jack's password", home); res.Next != SignedIn {
		t.Errorf("other user: Next = %v, want SignedIn", res.Next)
	}
	enrol(t, one, u)
	if _, err := one.dir.CompleteEnrolment(t.Context(), u.ID); err != nil {
		t.Errorf("CompleteEnrolment: %v", err)
	}
	if log.count(audit.MFARequired) != 1 {
		t.Error("no mfa.required event")
	}
}

func TestPendingSeal(t *testing.T) {
	t.Parallel()
	f, _ := securedFixture(t, nil)
	v := f.dir.SealPending("user-1", NeedSecondFactor, "anchor-a")
	if id, step, ok := f.dir.OpenPending(v, "anchor-a"); !ok || id != "user-1" || step != NeedSecondFactor {
		t.Errorf("OpenPending = %q, %v, %v", id, step, ok)
	}
	if _, _, ok := f.dir.OpenPending(v, "anchor-b"); ok {
		t.Error("opened with another browser's anchor")
	}
	if _, _, ok := f.dir.OpenPending(v, ""); ok {
		t.Error("opened without an anchor")
	}
	tampered := v[:len(v)-2] + "AA"
	if _, _, ok := f.dir.OpenPending(tampered, "anchor-a"); ok {
		t.Error("opened a tampered value")
	}
	f.clock.Advance(pendingLife)
	if _, _, ok := f.dir.OpenPending(v, "anchor-a"); ok {
		t.Error("opened an expired value")
	}
}
