package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/store"
)

func testClientRoundTrip(t *testing.T, s store.Store) {
	want := newClient("c1")
	if err := s.CreateClient(t.Context(), want); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	got, err := s.GetClient(t.Context(), "c1")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("GetClient mismatch (-want +got):\n%s", diff)
	}
}

func testClientMinimal(t *testing.T, s store.Store) {
	for _, want := range []store.Client{
		{ID: "nil", Type: "public", CreatedAt: t0},
		{ID: "empty", SecretHash: []byte{}, Type: "public", Scopes: []string{}, GrantTypes: []string{}, RedirectURIs: []string{}, CreatedAt: t0},
	} {
		if err := s.CreateClient(t.Context(), want); err != nil {
			t.Fatalf("CreateClient(%s): %v", want.ID, err)
		}
		got, err := s.GetClient(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("GetClient(%s): %v", want.ID, err)
		}
		if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
			t.Errorf("GetClient(%s) mismatch (-want +got):\n%s", want.ID, diff)
		}
		if !got.ExpiresAt.IsZero() {
			t.Errorf("GetClient(%s).ExpiresAt = %v, want zero", want.ID, got.ExpiresAt)
		}
	}
}

func testClientDuplicate(t *testing.T, s store.Store) {
	want := newClient("c1")
	if err := s.CreateClient(t.Context(), want); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	dup := newClient("c1")
	dup.Name = "impostor"
	wantErr(t, "CreateClient(duplicate id)", s.CreateClient(t.Context(), dup), store.ErrAlreadyExists)
	got, err := s.GetClient(t.Context(), "c1")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("GetClient after duplicate mismatch (-want +got):\n%s", diff)
	}
}

func testClientNotFound(t *testing.T, s store.Store) {
	_, err := s.GetClient(t.Context(), "nope")
	wantErr(t, "GetClient(unknown)", err, store.ErrNotFound)
}

func testClientExpiredStillReturned(t *testing.T, s store.Store) {
	// Expiry is the caller's decision: a long-expired client is returned.
	want := newClient("old")
	want.CreatedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	want.ExpiresAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.CreateClient(t.Context(), want); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	got, err := s.GetClient(t.Context(), "old")
	if err != nil {
		t.Fatalf("GetClient(expired): %v", err)
	}
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("GetClient(expired) mismatch (-want +got):\n%s", diff)
	}
}

// Times.

func testTimeRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Nanoseconds and a non-UTC zone in; microseconds and UTC out.
	in := func(d time.Duration, ns int) time.Time {
		return t0.Add(d).Add(time.Duration(ns)).In(zone)
	}
	out := func(x time.Time) time.Time { return x.Truncate(time.Microsecond).UTC() }

	c := newClient("c1")
	c.CreatedAt, c.ExpiresAt = in(0, 123456789), in(time.Hour, 999)
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	gotC, err := s.GetClient(ctx, c.ID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	wantTime(t, "Client.CreatedAt", gotC.CreatedAt, out(c.CreatedAt))
	wantTime(t, "Client.ExpiresAt", gotC.ExpiresAt, out(c.ExpiresAt))

	u := newUser("u1", "alice")
	u.CreatedAt, u.UpdatedAt = in(0, 1), in(time.Minute, 999999)
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	gotU, err := s.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	wantTime(t, "User.CreatedAt", gotU.CreatedAt, out(u.CreatedAt))
	wantTime(t, "User.UpdatedAt", gotU.UpdatedAt, out(u.UpdatedAt))

	se := newSession("s1", u.ID)
	se.AuthTime, se.CreatedAt, se.ExpiresAt = in(0, 1500), in(0, 2500), in(time.Hour, 3500)
	if err := s.CreateSession(ctx, se); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	gotS, err := s.GetSession(ctx, se.IDHash)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	wantTime(t, "Session.AuthTime", gotS.AuthTime, out(se.AuthTime))
	wantTime(t, "Session.CreatedAt", gotS.CreatedAt, out(se.CreatedAt))
	wantTime(t, "Session.ExpiresAt", gotS.ExpiresAt, out(se.ExpiresAt))

	g := newDeviceGrant("g1", c.ID)
	g.CreatedAt, g.ExpiresAt = in(0, 777), in(10*time.Minute, 888)
	if err := s.CreateDeviceGrant(ctx, g); err != nil {
		t.Fatalf("CreateDeviceGrant: %v", err)
	}
	pollAt := in(time.Minute, 456789)
	gotG, _, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, c.ID, pollAt, time.Second)
	if err != nil {
		t.Fatalf("PollDeviceGrant: %v", err)
	}
	wantTime(t, "DeviceGrant.LastPollAt (poll)", gotG.LastPollAt, out(pollAt))
	wantTime(t, "DeviceGrant.PrevPollAt (poll)", gotG.PrevPollAt, time.Time{})
	decideAt := in(2*time.Minute, 1001)
	gotG, err = s.DecideDeviceGrant(ctx, g.UserCodeHash, u.ID, true, decideAt)
	if err != nil {
		t.Fatalf("DecideDeviceGrant: %v", err)
	}
	wantTime(t, "DeviceGrant.DecidedAt (decide)", gotG.DecidedAt, out(decideAt))
	gotG = getGrant(t, s, g)
	wantTime(t, "DeviceGrant.CreatedAt", gotG.CreatedAt, out(g.CreatedAt))
	wantTime(t, "DeviceGrant.ExpiresAt", gotG.ExpiresAt, out(g.ExpiresAt))
	wantTime(t, "DeviceGrant.LastPollAt", gotG.LastPollAt, out(pollAt))
	wantTime(t, "DeviceGrant.PrevPollAt", gotG.PrevPollAt, time.Time{})
	wantTime(t, "DeviceGrant.DecidedAt", gotG.DecidedAt, out(decideAt))

	ts := newTokenSet("f1", c.ID, u.ID)
	ts.Family.AuthTime, ts.Family.CreatedAt, ts.Family.ExpiresAt = in(0, 11), in(0, 22), in(8*time.Hour, 33)
	ts.Access.CreatedAt, ts.Access.ExpiresAt = in(0, 44), in(time.Hour, 55)
	ts.Refresh.CreatedAt, ts.Refresh.ExpiresAt = in(0, 66), in(8*time.Hour, 77)
	code := newAuthCode("code1", c.ID, u.ID)
	code.AuthTime, code.CreatedAt, code.ExpiresAt = in(0, 1234), in(0, 5678), in(10*time.Minute, 9012)
	if err := s.CreateAuthCode(ctx, code); err != nil {
		t.Fatalf("CreateAuthCode: %v", err)
	}
	consumeAt := in(time.Minute, 3456)
	if err := s.ConsumeAuthCode(ctx, code.CodeHash, consumeAt, ts); err != nil {
		t.Fatalf("ConsumeAuthCode: %v", err)
	}
	gotCode, err := s.GetAuthCode(ctx, code.CodeHash)
	if err != nil {
		t.Fatalf("GetAuthCode: %v", err)
	}
	wantTime(t, "AuthCode.AuthTime", gotCode.AuthTime, out(code.AuthTime))
	wantTime(t, "AuthCode.CreatedAt", gotCode.CreatedAt, out(code.CreatedAt))
	wantTime(t, "AuthCode.ExpiresAt", gotCode.ExpiresAt, out(code.ExpiresAt))
	wantTime(t, "AuthCode.ConsumedAt", gotCode.ConsumedAt, out(consumeAt))

	gotA, gotF, err := s.GetAccessToken(ctx, ts.Access.Hash)
	if err != nil {
		t.Fatalf("GetAccessToken: %v", err)
	}
	wantTime(t, "AccessToken.CreatedAt", gotA.CreatedAt, out(ts.Access.CreatedAt))
	wantTime(t, "AccessToken.ExpiresAt", gotA.ExpiresAt, out(ts.Access.ExpiresAt))
	wantTime(t, "TokenFamily.AuthTime", gotF.AuthTime, out(ts.Family.AuthTime))
	wantTime(t, "TokenFamily.CreatedAt", gotF.CreatedAt, out(ts.Family.CreatedAt))
	wantTime(t, "TokenFamily.ExpiresAt", gotF.ExpiresAt, out(ts.Family.ExpiresAt))
	wantTime(t, "TokenFamily.RevokedAt (live)", gotF.RevokedAt, time.Time{})

	next := newTokenSet("f1-next", c.ID, u.ID)
	rotateAt := in(2*time.Minute, 2468)
	if _, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, c.ID, rotateAt, 0, Fixed(next)); err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	gotR, _, err := s.GetRefreshToken(ctx, ts.Refresh.Hash)
	if err != nil {
		t.Fatalf("GetRefreshToken: %v", err)
	}
	wantTime(t, "RefreshToken.CreatedAt", gotR.CreatedAt, out(ts.Refresh.CreatedAt))
	wantTime(t, "RefreshToken.ExpiresAt", gotR.ExpiresAt, out(ts.Refresh.ExpiresAt))
	wantTime(t, "RefreshToken.RotatedAt", gotR.RotatedAt, out(rotateAt))

	revokeAt := in(3*time.Minute, 13579)
	if err := s.RevokeTokenFamily(ctx, ts.Family.ID, revokeAt); err != nil {
		t.Fatalf("RevokeTokenFamily: %v", err)
	}
	wantTime(t, "TokenFamily.RevokedAt", familyOf(t, s, ts.Refresh.Hash).RevokedAt, out(revokeAt))
}
