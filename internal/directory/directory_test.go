package directory

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

func newClock() *clocktest.Clock { return clocktest.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)) }

type fixture struct {
	st    store.Store
	keys  *secret.Keys
	clock *clocktest.Clock
	dir   *Directory
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.New([]byte(strings.Repeat("k", secret.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	return &fixture{st: st, keys: keys, clock: c, dir: New(st, keys, cfg, c.Now, nil)}
}

func (f *fixture) addUser(t *testing.T, name, password string) store.User {
	t.Helper()
	u, err := f.dir.AddUser(t.Context(), name, name+"@example.com", "", password)
	if err != nil {
		t.Fatalf("AddUser(%q): %v", name, err)
	}
	return u
}

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=9216,t=4,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestAddUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := t.Context()
	u, err := f.dir.AddUser(ctx, "alice.smith@corp+1", "alice@example.com", "Alice Smith", "correct horse")
	if err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	if !phcPattern.MatchString(u.PasswordHash) {
		t.Errorf("password hash = %q, want an argon2id PHC string with OWASP parameters", u.PasswordHash)
	}
	if strings.Contains(u.PasswordHash, "correct horse") {
		t.Errorf("password hash contains the password")
	}
	if len(u.ID) != 22 {
		t.Errorf("user id = %q, want 16 random bytes in base64url", u.ID)
	}
	got, err := f.dir.UserByName(ctx, "alice.smith@corp+1")
	if err != nil {
		t.Fatalf("UserByName: %v", err)
	}
	if diff := cmp.Diff(u, got); diff != "" {
		t.Errorf("UserByName mismatch (-added +got):\n%s", diff)
	}
	// The same password never hashes the same way (random salt).
	v, err := f.dir.AddUser(ctx, "bob", "", "", "correct horse")
	if err != nil {
		t.Fatalf("AddUser(bob): %v", err)
	}
	if v.PasswordHash == u.PasswordHash {
		t.Errorf("two users with one password got the same hash %q", v.PasswordHash)
	}
	_, err = f.dir.AddUser(ctx, "bob", "", "", "another password")
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("AddUser(duplicate) = %v, want ErrAlreadyExists", err)
	}
	users, err := f.dir.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	if diff := cmp.Diff([]string{"alice.smith@corp+1", "bob"}, names); diff != "" {
		t.Errorf("ListUsers names (-want +got):\n%s", diff)
	}
	if _, err := f.dir.UserByName(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByName(unknown) = %v, want ErrNotFound", err)
	}
}

func TestAddUserValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	tests := []struct {
		name, user, email, display, password string
		wantErr                              string
	}{
		{"empty name", "", "", "", "password1", "user name must be 1 to 64"},
		{"long name", strings.Repeat("a", 65), "", "", "password1", "user name must be 1 to 64"},
		{"space in name", "a b", "", "", "password1", "may only contain"},
		{"unicode name", "zoë", "", "", "password1", "may only contain"},
		{"slash in name", "a/b", "", "", "password1", "may only contain"},
		{"short password", "carol", "", "", "1234567", "at least 8"},
		{"long password", "carol", "", "", strings.Repeat("p", 1025), "at most 1024"},
		{"email without at", "carol", "carol.example.com", "", "password1", "not an email address"},
		{"control in display name", "carol", "", "Carol\x00", "password1", "control characters"},
		{"several problems", "", "x", "", "short", "user name must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.dir.AddUser(t.Context(), tc.user, tc.email, tc.display, tc.password)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("AddUser = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	// Boundaries that are fine.
	for _, ok := range []struct{ user, password string }{
		{strings.Repeat("a", 64), strings.Repeat("p", 8)},
		{"A-Z.a_z@0+9", strings.Repeat("p", 1024)},
	} {
		if _, err := f.dir.AddUser(t.Context(), ok.user, "", "", ok.password); err != nil {
			t.Errorf("AddUser(%q, %d-byte password) = %v, want success", ok.user, len(ok.password), err)
		}
	}
	users, err := f.dir.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 {
		t.Errorf("after rejected additions, %d users stored, want 2", len(users))
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := t.Context()
	alice := f.addUser(t, "alice", "correct horse")
	f.addUser(t, "mallory", "battery staple")
	if err := f.dir.SetDisabled(ctx, "mallory", true); err != nil {
		t.Fatalf("SetDisabled: %v", err)
	}
	got, err := f.dir.Authenticate(ctx, "alice", "correct horse")
	if err != nil {
		t.Fatalf("Authenticate(right password): %v", err)
	}
	if got.ID != alice.ID {
		t.Errorf("Authenticate returned user %q, want %q", got.ID, alice.ID)
	}
	bad := []struct{ name, user, password string }{
		{"wrong password", "alice", "correct horsE"},
		{"empty password", "alice", ""},
		{"unknown user", "bob", "correct horse"},
		{"disabled user, right password", "mallory", "battery staple"},
		{"invalid name", "alice\x00", "correct horse"},
		{"huge password", "alice", strings.Repeat("x", 100000)},
	}
	for _, tc := range bad {
		_, err := f.dir.Authenticate(ctx, tc.user, tc.password)
		if err != ErrBadCredentials {
			t.Errorf("%s: Authenticate = %v, want exactly ErrBadCredentials", tc.name, err)
		}
	}
}

func TestAuthenticateWaitsForHashSlot(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{HashConcurrency: 1})
	f.addUser(t, "alice", "correct horse")
	// Take the only slot, as a concurrent sign-in would.
	f.dir.sem <- struct{}{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := f.dir.Authenticate(ctx, "alice", "correct horse")
		done <- err
	}()
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Authenticate while every slot is taken and ctx cancelled = %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrBadCredentials) {
		t.Errorf("a cancelled sign-in must not look like bad credentials")
	}
	// For an unknown user too (the dummy hash waits for a slot as well).
	if _, err := f.dir.Authenticate(ctx, "nobody", "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Authenticate(unknown) with cancelled ctx = %v, want context.Canceled", err)
	}
	<-f.dir.sem
	if _, err := f.dir.Authenticate(t.Context(), "alice", "correct horse"); err != nil {
		t.Errorf("Authenticate after the slot is free: %v", err)
	}
}

func TestHashConcurrencyBound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{HashConcurrency: 3})
	if cap(f.dir.sem) != 3 {
		t.Errorf("semaphore capacity = %d, want 3", cap(f.dir.sem))
	}
	if d := New(f.st, f.keys, Config{}, nil, nil); cap(d.sem) != 2 || d.cfg.SessionLifetime != 8*time.Hour {
		t.Errorf("defaults: concurrency %d, session lifetime %v; want 2, 8h", cap(d.sem), d.cfg.SessionLifetime)
	}
}

func TestPHC(t *testing.T) {
	t.Parallel()
	p, err := parsePHC(dummyHash)
	if err != nil {
		t.Fatalf("parsePHC(dummyHash): %v", err)
	}
	if p.memory != argonMemory || p.time != argonTime || p.threads != argonThreads {
		t.Errorf("dummy hash parameters m=%d t=%d p=%d must equal the current ones so an unknown user costs the same", p.memory, p.time, p.threads)
	}
	bad := []string{
		"",
		"plain",
		"$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999999,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1,x=3$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA$extra",
		"$argon2id$v=19$m=4,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
	}
	for _, s := range bad {
		if _, err := parsePHC(s); err == nil {
			t.Errorf("parsePHC(%q) succeeded, want an error", s)
		}
	}
}

// A hash made with other parameters still verifies (they are read from the
// string) and is upgraded to the current ones on the next sign-in.
func TestAuthenticateUpgradesOldParameters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := t.Context()
	u := f.addUser(t, "alice", "correct horse")
	old := phc{memory: 8 * 1024, time: 1, threads: 1, salt: []byte("0123456789abcdef")}
	old.key = argon2Key("correct horse", old)
	u.PasswordHash = old.String()
	if err := f.st.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.Authenticate(ctx, "alice", "wrong horse"); err != ErrBadCredentials {
		t.Fatalf("Authenticate(wrong) = %v", err)
	}
	if _, err := f.dir.Authenticate(ctx, "alice", "correct horse"); err != nil {
		t.Fatalf("Authenticate with an old-parameter hash: %v", err)
	}
	got, err := f.dir.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !phcPattern.MatchString(got.PasswordHash) {
		t.Errorf("after sign-in, hash = %q, want it upgraded to the current parameters", got.PasswordHash)
	}
	if _, err := f.dir.Authenticate(ctx, "alice", "correct horse"); err != nil {
		t.Errorf("Authenticate after upgrade: %v", err)
	}
}

func TestSetPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := t.Context()
	u := f.addUser(t, "alice", "correct horse")
	cookie, _, err := f.dir.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.dir.SetPassword(ctx, "alice", "short"); err == nil {
		t.Errorf("SetPassword(short) succeeded")
	}
	if err := f.dir.SetPassword(ctx, "nobody", "long enough"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetPassword(unknown user) = %v, want ErrNotFound", err)
	}
	if err := f.dir.SetPassword(ctx, "alice", "battery staple"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if _, err := f.dir.Authenticate(ctx, "alice", "correct horse"); err != ErrBadCredentials {
		t.Errorf("old password: Authenticate = %v, want ErrBadCredentials", err)
	}
	if _, err := f.dir.Authenticate(ctx, "alice", "battery staple"); err != nil {
		t.Errorf("new password: Authenticate = %v", err)
	}
	if _, _, err := f.dir.Session(ctx, cookie); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after a password change: %v, want ErrNotFound", err)
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{SessionLifetime: time.Hour})
	ctx := t.Context()
	u := f.addUser(t, "alice", "correct horse")
	start := f.clock.Now()
	cookie, s, err := f.dir.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	if !strings.HasPrefix(cookie, "sso_bs_") || len(cookie) < 40 {
		t.Errorf("cookie value %q, want a prefixed 256-bit token", cookie)
	}
	want := store.Session{IDHash: f.keys.Hash("session", cookie), UserID: u.ID, AuthTime: start, CreatedAt: start, ExpiresAt: start.Add(time.Hour)}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("StartSession session (-want +got):\n%s", diff)
	}
	// The store holds the keyed hash, never the value.
	stored, err := f.st.GetSession(ctx, f.keys.Hash("session", cookie))
	if err != nil {
		t.Fatalf("GetSession(hash): %v", err)
	}
	if string(stored.IDHash) == cookie {
		t.Errorf("store keeps the session value in clear")
	}
	other, _, err := f.dir.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if other == cookie {
		t.Errorf("two sessions share the value %q", cookie)
	}

	gs, gu, err := f.dir.Session(ctx, cookie)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if gs.UserID != u.ID || gu.Name != "alice" {
		t.Errorf("Session = %+v, %+v; want alice's", gs, gu)
	}
	for _, v := range []string{"", "sso_bs_nope", "garbage", cookie + "x", strings.Repeat("sso_bs_", 100)} {
		if _, _, err := f.dir.Session(ctx, v); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Session(%q) = %v, want ErrNotFound", v, err)
		}
	}

	if err := f.dir.EndSession(ctx, other); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	if _, _, err := f.dir.Session(ctx, other); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ended session: %v, want ErrNotFound", err)
	}
	if err := f.dir.EndSession(ctx, other); err != nil {
		t.Errorf("EndSession twice: %v", err)
	}
	if err := f.dir.EndSession(ctx, "garbage"); err != nil {
		t.Errorf("EndSession(garbage): %v", err)
	}

	f.clock.Advance(time.Hour - time.Second)
	if _, _, err := f.dir.Session(ctx, cookie); err != nil {
		t.Errorf("Session just before expiry: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, _, err := f.dir.Session(ctx, cookie); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session at expiry = %v, want ErrNotFound", err)
	}
}

func TestCSRFToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	a, b := f.dir.CSRFToken("sso_bs_a"), f.dir.CSRFToken("sso_bs_b")
	if a == b || a != f.dir.CSRFToken("sso_bs_a") {
		t.Errorf("CSRF tokens must be deterministic per cookie and differ between cookies: %q %q", a, b)
	}
	if len(a) != 43 || strings.ContainsAny(a, "+/=") {
		t.Errorf("CSRF token %q, want 32 bytes in unpadded base64url", a)
	}
	if strings.Contains(a, "sso_bs_a") {
		t.Errorf("CSRF token reveals the cookie")
	}
}

// Disabling a user ends its sessions and revokes its tokens; enabling it
// again brings neither back.
func TestSetDisabled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := t.Context()
	u := f.addUser(t, "alice", "correct horse")
	bob := f.addUser(t, "bob", "battery staple")
	cookie, _, err := f.dir.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	bobCookie, _, err := f.dir.StartSession(ctx, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	refresh := issueTokens(t, f, u.ID)

	if err := f.dir.SetDisabled(ctx, "nobody", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDisabled(unknown) = %v, want ErrNotFound", err)
	}
	if err := f.dir.SetDisabled(ctx, "alice", true); err != nil {
		t.Fatalf("SetDisabled: %v", err)
	}
	if got, _ := f.dir.UserByName(ctx, "alice"); !got.Disabled {
		t.Errorf("user not marked disabled")
	}
	if _, _, err := f.dir.Session(ctx, cookie); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("disabled user's session: %v, want ErrNotFound", err)
	}
	if _, _, err := f.dir.Session(ctx, bobCookie); err != nil {
		t.Errorf("another user's session: %v", err)
	}
	_, fam, err := f.st.GetRefreshToken(ctx, f.keys.OrderedHash("refresh-token", "sso_rt_", refresh))
	if err != nil {
		t.Fatalf("GetRefreshToken: %v", err)
	}
	if fam.RevokedAt.IsZero() {
		t.Errorf("disabling the user left its token family live")
	}

	if err := f.dir.SetDisabled(ctx, "alice", false); err != nil {
		t.Fatalf("SetDisabled(false): %v", err)
	}
	if _, err := f.dir.Authenticate(ctx, "alice", "correct horse"); err != nil {
		t.Errorf("re-enabled user: %v", err)
	}
	if _, _, err := f.dir.Session(ctx, cookie); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("re-enabling brought an old session back: %v", err)
	}
}

func TestDeleteUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := t.Context()
	u := f.addUser(t, "alice", "correct horse")
	cookie, _, err := f.dir.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.dir.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := f.dir.UserByName(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByName(deleted) = %v, want ErrNotFound", err)
	}
	if _, _, err := f.dir.Session(ctx, cookie); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user's session: %v, want ErrNotFound", err)
	}
	if _, err := f.dir.Authenticate(ctx, "alice", "correct horse"); err != ErrBadCredentials {
		t.Errorf("deleted user signs in: %v", err)
	}
	if err := f.dir.DeleteUser(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUser twice = %v, want ErrNotFound", err)
	}
}

// issueTokens runs a device grant for userID through the engine and
// returns the refresh token.
func issueTokens(t *testing.T, f *fixture, userID string) string {
	t.Helper()
	ctx := t.Context()
	e := oauth.New(f.st, f.keys, oauth.Config{Issuer: "https://sso.example.com"}, f.clock.Now, nil)
	c, err := e.RegisterClient(ctx, oauth.RegisterRequest{ClientName: "cli", ClientType: "public"})
	if err != nil {
		t.Fatal(err)
	}
	da, err := e.StartDeviceAuthorization(ctx, oauth.StartRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, StartURL: "https://sso.example.com/start"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.DecideDevice(ctx, da.UserCode, userID, true); err != nil {
		t.Fatal(err)
	}
	tr, err := e.Token(ctx, oauth.TokenRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, GrantType: oauth.GrantDeviceCode, DeviceCode: da.DeviceCode})
	if err != nil {
		t.Fatal(err)
	}
	return tr.RefreshToken
}
