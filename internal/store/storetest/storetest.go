// Package storetest is the conformance suite every store.Store backend
// passes.
//
// Run opens a fresh store for each subtest and exercises only the contract
// in package store, so the same suite runs on SQLite and PostgreSQL. Times are
// fixed instants (never the wall clock, never a sleep); where a round trip is
// checked they carry nanoseconds and a non-UTC zone, and must come back
// truncated to microseconds, in UTC. Nil and empty slices are treated as
// equal.
//
// The suite does not create the client or user a record refers to unless the
// test is about that relation: backends must not enforce foreign keys from
// grants, codes, families or sessions to clients or users (clients expire and
// are collected independently of the families they issued).
package storetest

import (
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssooidc/ssooidc/internal/store"
)

// Run runs the conformance suite. open returns a new, empty store and
// arranges (with t.Cleanup) for it to be closed; it is called once per
// subtest, possibly from parallel subtests.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ClientRoundTrip", testClientRoundTrip},
		{"ClientMinimal", testClientMinimal},
		{"ClientDuplicate", testClientDuplicate},
		{"ClientNotFound", testClientNotFound},
		{"ClientExpiredStillReturned", testClientExpiredStillReturned},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"DeviceGrantRoundTrip", testDeviceGrantRoundTrip},
		{"DeviceGrantDuplicate", testDeviceGrantDuplicate},
		{"DeviceGrantNotFound", testDeviceGrantNotFound},
		{"PollDeviceGrant", testPollDeviceGrant},
		{"PollOnlyPendingSlowsDown", testPollOnlyPendingSlowsDown},
		{"PollOtherClient", testPollOtherClient},
		{"DecideDeviceGrant", testDecideDeviceGrant},
		{"RedeemDeviceGrant", testRedeemDeviceGrant},
		{"AuthCodeRoundTrip", testAuthCodeRoundTrip},
		{"AuthCodeDuplicate", testAuthCodeDuplicate},
		{"ConsumeAuthCode", testConsumeAuthCode},
		{"TokensNotFound", testTokensNotFound},
		{"RotateRefreshToken", testRotateRefreshToken},
		{"RotateGraceZero", testRotateGraceZero},
		{"RevokeTokenFamily", testRevokeTokenFamily},
		{"RevokeUserTokens", testRevokeUserTokens},
		{"UserRoundTrip", testUserRoundTrip},
		{"UserDuplicate", testUserDuplicate},
		{"UserNotFound", testUserNotFound},
		{"ListUsers", testListUsers},
		{"UpdateUser", testUpdateUser},
		{"DeleteUser", testDeleteUser},
		{"Sessions", testSessions},
		{"DeleteSessions", testDeleteSessions},
		{"Settings", testSettings},
		{"DeleteExpired", testDeleteExpired},
		{"DeleteExpiredLimit", testDeleteExpiredLimit},
		{"Ping", testPing},
		{"RaceRedeemDeviceGrant", testRaceRedeemDeviceGrant},
		{"RaceCreateDeviceGrant", testRaceCreateDeviceGrant},
		{"RaceConsumeAuthCode", testRaceConsumeAuthCode},
		{"RaceRotateRefreshToken", testRaceRotateRefreshToken},
		{"RacePollDeviceGrant", testRacePollDeviceGrant},
	}
	tests = append(tests, keysTests...)
	tests = append(tests, portalTests...)
	tests = append(tests, securityTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// racers is how many goroutines each race test releases together.
const racers = 32

var (
	// t0 is the suite's fixed "now"; every other instant is relative to it.
	t0 = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	// zone is a non-UTC location for the time round trip.
	zone = time.FixedZone("UTC+05:30", 5*3600+30*60)
	// equateEmpty treats nil and empty slices as equal.
	equateEmpty = cmpopts.EquateEmpty()
)

func at(d time.Duration) time.Time { return t0.Add(d) }

// h stands in for a keyed hash: backends treat hashes as opaque bytes.
func h(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func newClient(id string) store.Client {
	return store.Client{
		ID:           id,
		SecretHash:   h("secret-" + id),
		Name:         "client " + id,
		Type:         "public",
		Scopes:       []string{"sso:account:access", "openid"},
		GrantTypes:   []string{"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"},
		RedirectURIs: []string{"http://127.0.0.1:8080/oauth/callback"},
		IssuerURL:    "https://sso.example.test",
		CreatedAt:    t0,
		ExpiresAt:    at(90 * 24 * time.Hour),
	}
}

func newDeviceGrant(name, clientID string) store.DeviceGrant {
	return store.DeviceGrant{
		DeviceCodeHash:   h("device-" + name),
		UserCodeHash:     h("user-" + name),
		ClientID:         clientID,
		Scopes:           []string{"sso:account:access"},
		StartURL:         "https://sso.example.test/start",
		Status:           store.DevicePending,
		Interval:         5 * time.Second,
		CreatedAt:        t0,
		ExpiresAt:        at(10 * time.Minute),
		RequestIP:        "192.0.2.7",
		RequestUserAgent: "aws-cli/2.22.0",
	}
}

func newAuthCode(name, clientID, userID string) store.AuthCode {
	return store.AuthCode{
		CodeHash:      h("code-" + name),
		ClientID:      clientID,
		UserID:        userID,
		RedirectURI:   "http://127.0.0.1:8080/oauth/callback",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Scopes:        []string{"openid", "sso:account:access"},
		Nonce:         "nonce-" + name,
		AuthTime:      t0,
		CreatedAt:     t0,
		ExpiresAt:     at(10 * time.Minute),
	}
}

// newTokenSet leaves the pair's FamilyID empty: the pair belongs to the
// set's family, and the backend fills it in.
func newTokenSet(name, clientID, userID string) store.TokenSet {
	return store.TokenSet{
		Family: store.TokenFamily{
			ID:        "family-" + name,
			ClientID:  clientID,
			UserID:    userID,
			Scopes:    []string{"sso:account:access"},
			AuthTime:  t0,
			CreatedAt: t0,
			ExpiresAt: at(8 * time.Hour),
		},
		Access: store.AccessToken{
			Hash:      h("access-" + name),
			CreatedAt: t0,
			ExpiresAt: at(time.Hour),
		},
		Refresh: store.RefreshToken{
			Hash:      h("refresh-" + name),
			CreatedAt: t0,
			ExpiresAt: at(8 * time.Hour),
		},
	}
}

func newUser(id, name string) store.User {
	return store.User{
		ID:           id,
		Name:         name,
		Email:        name + "@example.test",
		DisplayName:  "User " + name,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		CreatedAt:    t0,
		UpdatedAt:    t0,
	}
}

func newSession(name, userID string) store.Session {
	return store.Session{
		IDHash:    h("session-" + name),
		UserID:    userID,
		AuthTime:  t0,
		CreatedAt: t0,
		ExpiresAt: at(12 * time.Hour),
	}
}

// issue writes ts through the authorization code path (the contract has no
// other way to create a family) and returns it.
func issue(t *testing.T, s store.Store, ts store.TokenSet) store.TokenSet {
	t.Helper()
	// A family's user must exist for its tokens to be rotated.
	u := newUser(ts.Family.UserID, "user-"+ts.Family.UserID)
	if err := s.CreateUser(t.Context(), u); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser(%s): %v", u.ID, err)
	}
	code := newAuthCode(ts.Family.ID, ts.Family.ClientID, ts.Family.UserID)
	if err := s.CreateAuthCode(t.Context(), code); err != nil {
		t.Fatalf("CreateAuthCode(%s): %v", ts.Family.ID, err)
	}
	if err := s.ConsumeAuthCode(t.Context(), code.CodeHash, t0, ts); err != nil {
		t.Fatalf("ConsumeAuthCode(%s): %v", ts.Family.ID, err)
	}
	return ts
}

// Fixed is a RotateRefreshToken mint that returns ts whatever the family.
func Fixed(ts store.TokenSet) func(store.TokenFamily) store.TokenSet {
	return func(store.TokenFamily) store.TokenSet { return ts }
}

// wantIssued checks that ts's pair is stored in family fam.
func wantIssued(t *testing.T, s store.Store, ts store.TokenSet, fam store.TokenFamily) {
	t.Helper()
	ctx := t.Context()
	wantAccess := ts.Access
	wantAccess.FamilyID = fam.ID
	gotAccess, gotFam, err := s.GetAccessToken(ctx, ts.Access.Hash)
	if err != nil {
		t.Errorf("GetAccessToken(%s): %v", ts.Family.ID, err)
	} else {
		if diff := cmp.Diff(wantAccess, gotAccess, equateEmpty); diff != "" {
			t.Errorf("GetAccessToken(%s) token mismatch (-want +got):\n%s", ts.Family.ID, diff)
		}
		if diff := cmp.Diff(fam, gotFam, equateEmpty); diff != "" {
			t.Errorf("GetAccessToken(%s) family mismatch (-want +got):\n%s", ts.Family.ID, diff)
		}
	}
	wantRefresh := ts.Refresh
	wantRefresh.FamilyID = fam.ID
	gotRefresh, gotFam, err := s.GetRefreshToken(ctx, ts.Refresh.Hash)
	if err != nil {
		t.Errorf("GetRefreshToken(%s): %v", ts.Family.ID, err)
		return
	}
	if diff := cmp.Diff(wantRefresh, gotRefresh, equateEmpty); diff != "" {
		t.Errorf("GetRefreshToken(%s) token mismatch (-want +got):\n%s", ts.Family.ID, diff)
	}
	if diff := cmp.Diff(fam, gotFam, equateEmpty); diff != "" {
		t.Errorf("GetRefreshToken(%s) family mismatch (-want +got):\n%s", ts.Family.ID, diff)
	}
}

// wantAbsent checks that neither token of ts's pair was written.
func wantAbsent(t *testing.T, s store.Store, ts store.TokenSet) {
	t.Helper()
	if _, _, err := s.GetAccessToken(t.Context(), ts.Access.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccessToken(%s) error = %v, want %v", ts.Family.ID, err, store.ErrNotFound)
	}
	if _, _, err := s.GetRefreshToken(t.Context(), ts.Refresh.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRefreshToken(%s) error = %v, want %v", ts.Family.ID, err, store.ErrNotFound)
	}
}

// familyOf returns the family of a refresh token.
func familyOf(t *testing.T, s store.Store, refreshHash []byte) store.TokenFamily {
	t.Helper()
	_, fam, err := s.GetRefreshToken(t.Context(), refreshHash)
	if err != nil {
		t.Fatalf("GetRefreshToken: %v", err)
	}
	return fam
}

func wantErr(t *testing.T, op string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Errorf("%s error = %v, want %v", op, got, want)
	}
}

func wantErrOneOf(t *testing.T, op string, got error, want ...error) {
	t.Helper()
	for _, w := range want {
		if errors.Is(got, w) {
			return
		}
	}
	t.Errorf("%s error = %v, want one of %v", op, got, want)
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", what, got.Location())
	}
}

func getGrant(t *testing.T, s store.Store, g store.DeviceGrant) store.DeviceGrant {
	t.Helper()
	got, err := s.GetDeviceGrantByUserCode(t.Context(), g.UserCodeHash)
	if err != nil {
		t.Fatalf("GetDeviceGrantByUserCode: %v", err)
	}
	return got
}

// race runs fn in n goroutines released together and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}
