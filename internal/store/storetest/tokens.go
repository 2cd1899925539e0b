package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/store"
)

func testTokensNotFound(t *testing.T, s store.Store) {
	_, _, err := s.GetAccessToken(t.Context(), h("nope"))
	wantErr(t, "GetAccessToken(unknown)", err, store.ErrNotFound)
	_, _, err = s.GetRefreshToken(t.Context(), h("nope"))
	wantErr(t, "GetRefreshToken(unknown)", err, store.ErrNotFound)
}

func testRotateRefreshToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	const grace = 30 * time.Second
	t1 := at(time.Hour)

	t.Run("unknown", func(t *testing.T) {
		next := newTokenSet("unknown-next", "c1", "u1")
		_, err := s.RotateRefreshToken(ctx, h("nope"), "c1", t1, grace, Fixed(next))
		wantErr(t, "RotateRefreshToken(unknown)", err, store.ErrNotFound)
		wantAbsent(t, s, next)
	})

	t.Run("other client", func(t *testing.T) {
		ts := issue(t, s, newTokenSet("other", "c1", "u1"))
		next := newTokenSet("other-next", "c2", "u1")
		_, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c2", t1, grace, Fixed(next))
		wantErr(t, "RotateRefreshToken(other client)", err, store.ErrNotFound)
		wantAbsent(t, s, next)
		wantIssued(t, s, ts, ts.Family) // not rotated, not revoked
	})

	t.Run("new pair not writable", func(t *testing.T) {
		ts := issue(t, s, newTokenSet("taken", "c1", "u1"))
		other := issue(t, s, newTokenSet("taken-other", "c1", "u1"))
		next := newTokenSet("taken-next", "c1", "u1")
		next.Refresh.Hash = other.Refresh.Hash
		_, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", t1, grace, Fixed(next))
		wantErr(t, "RotateRefreshToken(new refresh hash taken)", err, store.ErrAlreadyExists)
		if _, _, err := s.GetAccessToken(ctx, next.Access.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the new access token was left behind: GetAccessToken = %v, want ErrNotFound", err)
		}
		// Nothing changed: the old token rotates as if never presented.
		retry := newTokenSet("taken-retry", "c1", "u1")
		if _, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", t1, 0, Fixed(retry)); err != nil {
			t.Fatalf("RotateRefreshToken after the failed one: %v", err)
		}
		wantIssued(t, s, retry, ts.Family)
	})

	t.Run("revoked", func(t *testing.T) {
		ts := issue(t, s, newTokenSet("revoked", "c1", "u1"))
		if err := s.RevokeTokenFamily(ctx, ts.Family.ID, at(time.Minute)); err != nil {
			t.Fatalf("RevokeTokenFamily: %v", err)
		}
		next := newTokenSet("revoked-next", "c1", "u1")
		_, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", t1, grace, Fixed(next))
		wantErr(t, "RotateRefreshToken(revoked)", err, store.ErrRevoked)
		wantAbsent(t, s, next)
	})

	t.Run("expired token", func(t *testing.T) {
		ts := newTokenSet("expired-token", "c1", "u1")
		ts.Refresh.ExpiresAt = t1.Add(-time.Microsecond)
		issue(t, s, ts)
		next := newTokenSet("expired-token-next", "c1", "u1")
		_, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", t1, grace, Fixed(next))
		wantErr(t, "RotateRefreshToken(expired token)", err, store.ErrExpired)
		wantAbsent(t, s, next)
	})

	t.Run("expired family", func(t *testing.T) {
		ts := newTokenSet("expired-family", "c1", "u1")
		ts.Family.ExpiresAt = t1.Add(-time.Microsecond)
		issue(t, s, ts)
		next := newTokenSet("expired-family-next", "c1", "u1")
		_, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", t1, grace, Fixed(next))
		wantErr(t, "RotateRefreshToken(expired family)", err, store.ErrExpired)
		wantAbsent(t, s, next)
	})

	t.Run("user disabled or gone", func(t *testing.T) {
		for _, tc := range []struct {
			user   string
			change func(u store.User) error
			want   error
		}{
			{"u-disabled", func(u store.User) error {
				u.Disabled = true
				return s.UpdateUser(ctx, u) // the family stays unrevoked
			}, store.ErrUserDisabled},
			{"u-gone", func(u store.User) error { return s.DeleteUser(ctx, u.ID, at(time.Minute)) }, store.ErrUserGone},
		} {
			ts := issue(t, s, newTokenSet(tc.user, "c1", tc.user))
			u, err := s.GetUser(ctx, tc.user)
			if err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			if err := tc.change(u); err != nil {
				t.Fatalf("%s: %v", tc.user, err)
			}
			next := newTokenSet(tc.user+"-next", "c1", tc.user)
			minted := false
			got, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", t1, grace, func(store.TokenFamily) store.TokenSet {
				minted = true
				return next
			})
			wantErr(t, "RotateRefreshToken("+tc.user+")", err, tc.want)
			if minted {
				t.Errorf("%s: mint called for a refused rotation", tc.user)
			}
			wantAbsent(t, s, next)
			if got.ID != ts.Family.ID || got.RevokedAt.IsZero() {
				t.Errorf("%s: returned family %q revoked at %v; want %q, revoked", tc.user, got.ID, got.RevokedAt, ts.Family.ID)
			}
			if fam := familyOf(t, s, ts.Refresh.Hash); fam.RevokedAt.IsZero() {
				t.Errorf("%s: family not revoked", tc.user)
			}
		}
	})

	t.Run("mint gets the family", func(t *testing.T) {
		ts := issue(t, s, newTokenSet("mint", "c1", "u1"))
		next := newTokenSet("mint-next", "c1", "u1")
		var seen []store.TokenFamily
		if _, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", t1, grace, func(f store.TokenFamily) store.TokenSet {
			seen = append(seen, f)
			return next
		}); err != nil {
			t.Fatalf("RotateRefreshToken: %v", err)
		}
		if len(seen) == 0 {
			t.Fatalf("mint never called")
		}
		if diff := cmp.Diff(ts.Family, seen[len(seen)-1], equateEmpty); diff != "" {
			t.Errorf("family given to mint mismatch (-want +got):\n%s", diff)
		}
		wantIssued(t, s, next, ts.Family)
	})

	t.Run("rotation, reuse within and after grace", func(t *testing.T) {
		ts := issue(t, s, newTokenSet("chain", "c1", "u1"))
		fam := ts.Family

		// First rotation: old marked rotated, next joins the old family
		// whatever next.Family says.
		next := newTokenSet("chain-2", "c2", "u2")
		next.Family.ID = "ignored"
		got, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", t1, grace, Fixed(next))
		if err != nil {
			t.Fatalf("RotateRefreshToken(first): %v", err)
		}
		if diff := cmp.Diff(fam, got, equateEmpty); diff != "" {
			t.Errorf("RotateRefreshToken(first) family mismatch (-want +got):\n%s", diff)
		}
		old, _, err := s.GetRefreshToken(ctx, ts.Refresh.Hash)
		if err != nil {
			t.Fatalf("GetRefreshToken(old): %v", err)
		}
		wantTime(t, "old RotatedAt", old.RotatedAt, t1)
		wantIssued(t, s, next, fam)
		_, _, err = s.GetRefreshToken(ctx, h("refresh-ignored"))
		wantErr(t, "GetRefreshToken(next.Family.ID's tokens)", err, store.ErrNotFound)

		// Reuse exactly grace later (concurrent refreshes from one cached
		// token): another pair in the same family.
		within := newTokenSet("chain-within", "c1", "u1")
		got, err = s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", t1.Add(grace), grace, Fixed(within))
		if err != nil {
			t.Fatalf("RotateRefreshToken(reuse within grace): %v", err)
		}
		if diff := cmp.Diff(fam, got, equateEmpty); diff != "" {
			t.Errorf("RotateRefreshToken(reuse within grace) family mismatch (-want +got):\n%s", diff)
		}
		wantIssued(t, s, within, fam)

		// The new token rotates in turn.
		third := newTokenSet("chain-3", "c1", "u1")
		if _, err := s.RotateRefreshToken(ctx, next.Refresh.Hash, "c1", t1.Add(time.Minute), grace, Fixed(third)); err != nil {
			t.Fatalf("RotateRefreshToken(next): %v", err)
		}
		wantIssued(t, s, third, fam)

		// Reuse after grace: the whole family is revoked.
		reused := t1.Add(grace + time.Microsecond)
		after := newTokenSet("chain-after", "c1", "u1")
		_, err = s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", reused, grace, Fixed(after))
		wantErr(t, "RotateRefreshToken(reuse after grace)", err, store.ErrReused)
		wantAbsent(t, s, after)
		revoked := fam
		revoked.RevokedAt = reused
		for _, set := range []store.TokenSet{next, within, third} {
			_, gotFam, err := s.GetAccessToken(ctx, set.Access.Hash)
			if err != nil {
				t.Fatalf("GetAccessToken: %v", err)
			}
			if diff := cmp.Diff(revoked, gotFam, equateEmpty); diff != "" {
				t.Errorf("family after reuse mismatch (-want +got):\n%s", diff)
			}
		}

		// Revocation takes precedence for every token of the family.
		last := newTokenSet("chain-last", "c1", "u1")
		_, err = s.RotateRefreshToken(ctx, third.Refresh.Hash, "c1", t1.Add(2*time.Minute), grace, Fixed(last))
		wantErr(t, "RotateRefreshToken(revoked family)", err, store.ErrRevoked)
		wantAbsent(t, s, last)
	})
}

func testRotateGraceZero(t *testing.T, s store.Store) {
	// With no grace, even a reuse at the very same instant is a reuse.
	ctx := t.Context()
	ts := issue(t, s, newTokenSet("g0", "c1", "u1"))
	t1 := at(time.Hour)
	next := newTokenSet("g0-next", "c1", "u1")
	if _, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", t1, 0, Fixed(next)); err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	again := newTokenSet("g0-again", "c1", "u1")
	_, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", t1, 0, Fixed(again))
	wantErr(t, "RotateRefreshToken(reuse, grace 0)", err, store.ErrReused)
	wantAbsent(t, s, again)
	wantTime(t, "RevokedAt", familyOf(t, s, next.Refresh.Hash).RevokedAt, t1)
}

func testRevokeTokenFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	ts := issue(t, s, newTokenSet("f1", "c1", "u1"))
	other := issue(t, s, newTokenSet("f2", "c1", "u1"))
	t1, t2 := at(time.Minute), at(2*time.Minute)
	if err := s.RevokeTokenFamily(ctx, ts.Family.ID, t1); err != nil {
		t.Fatalf("RevokeTokenFamily: %v", err)
	}
	if err := s.RevokeTokenFamily(ctx, ts.Family.ID, t2); err != nil {
		t.Fatalf("RevokeTokenFamily(again): %v", err)
	}
	// Idempotent: the first revocation stands.
	revoked := ts.Family
	revoked.RevokedAt = t1
	wantIssued(t, s, ts, revoked)
	wantIssued(t, s, other, other.Family)

	err := s.RevokeTokenFamily(ctx, "nope", t1)
	if err != nil {
		wantErr(t, "RevokeTokenFamily(unknown)", err, store.ErrNotFound)
	}
}

func testRevokeUserTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	live := issue(t, s, newTokenSet("live", "c1", "u1"))
	live2 := issue(t, s, newTokenSet("live2", "c2", "u1"))
	already := issue(t, s, newTokenSet("already", "c1", "u1"))
	others := issue(t, s, newTokenSet("others", "c1", "u2"))
	if err := s.RevokeTokenFamily(ctx, already.Family.ID, at(time.Minute)); err != nil {
		t.Fatalf("RevokeTokenFamily: %v", err)
	}
	t1 := at(time.Hour)
	if err := s.RevokeUserTokens(ctx, "u1", t1); err != nil {
		t.Fatalf("RevokeUserTokens: %v", err)
	}
	for _, ts := range []store.TokenSet{live, live2} {
		fam := ts.Family
		fam.RevokedAt = t1
		wantIssued(t, s, ts, fam)
	}
	fam := already.Family
	fam.RevokedAt = at(time.Minute)
	wantIssued(t, s, already, fam)
	wantIssued(t, s, others, others.Family)

	if err := s.RevokeUserTokens(ctx, "nobody", t1); err != nil {
		t.Errorf("RevokeUserTokens(user without tokens): %v", err)
	}
}
