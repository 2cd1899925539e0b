package storetest

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

func testRaceRedeemDeviceGrant(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := newDeviceGrant("g1", "c1")
	if err := s.CreateDeviceGrant(ctx, g); err != nil {
		t.Fatalf("CreateDeviceGrant: %v", err)
	}
	if _, err := s.DecideDeviceGrant(ctx, g.UserCodeHash, "u1", true, at(time.Minute)); err != nil {
		t.Fatalf("DecideDeviceGrant: %v", err)
	}
	sets := make([]store.TokenSet, racers)
	for i := range sets {
		sets[i] = newTokenSet(fmt.Sprintf("racer-%d", i), "c1", "u1")
	}
	errs := race(racers, func(i int) error {
		return s.RedeemDeviceGrant(ctx, g.DeviceCodeHash, sets[i])
	})
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			wantIssued(t, s, sets[i], sets[i].Family)
		case errors.Is(err, store.ErrConsumed):
			wantAbsent(t, s, sets[i])
		default:
			t.Errorf("RedeemDeviceGrant #%d error = %v, want nil or %v", i, err, store.ErrConsumed)
		}
	}
	if winners != 1 {
		t.Errorf("RedeemDeviceGrant winners = %d, want exactly 1", winners)
	}
	if got := getGrant(t, s, g); got.Status != store.DeviceRedeemed {
		t.Errorf("Status = %s, want %s", got.Status, store.DeviceRedeemed)
	}
}

// testRaceCreateDeviceGrant: grants started at once with the same user code
// (and their own device codes): exactly one is stored, and the code finds it.
func testRaceCreateDeviceGrant(t *testing.T, s store.Store) {
	ctx := t.Context()
	grants := make([]store.DeviceGrant, racers)
	for i := range grants {
		grants[i] = newDeviceGrant(fmt.Sprintf("racer-%d", i), "c1")
		grants[i].UserCodeHash = h("the-user-code")
	}
	errs := race(racers, func(i int) error { return s.CreateDeviceGrant(ctx, grants[i]) })
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("CreateDeviceGrant #%d and #%d both stored the same user code", winner, i)
		case !errors.Is(err, store.ErrAlreadyExists):
			t.Errorf("CreateDeviceGrant #%d error = %v, want nil or %v", i, err, store.ErrAlreadyExists)
		}
	}
	if winner < 0 {
		t.Fatal("no CreateDeviceGrant succeeded")
	}
	got, err := s.GetDeviceGrantByUserCode(ctx, h("the-user-code"))
	if err != nil || string(got.DeviceCodeHash) != string(grants[winner].DeviceCodeHash) {
		t.Errorf("GetDeviceGrantByUserCode = %x, %v; want the winner's grant %x", got.DeviceCodeHash, err, grants[winner].DeviceCodeHash)
	}
	for i, g := range grants {
		if i == winner {
			continue
		}
		if _, _, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", t0, time.Second); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PollDeviceGrant(loser #%d) error = %v, want %v", i, err, store.ErrNotFound)
		}
	}
}

func testRaceConsumeAuthCode(t *testing.T, s store.Store) {
	ctx := t.Context()
	code := newAuthCode("a1", "c1", "u1")
	if err := s.CreateAuthCode(ctx, code); err != nil {
		t.Fatalf("CreateAuthCode: %v", err)
	}
	sets := make([]store.TokenSet, racers)
	for i := range sets {
		sets[i] = newTokenSet(fmt.Sprintf("racer-%d", i), "c1", "u1")
	}
	now := at(time.Minute)
	errs := race(racers, func(i int) error {
		return s.ConsumeAuthCode(ctx, code.CodeHash, now, sets[i])
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("ConsumeAuthCode: both #%d and #%d won", winner, i)
			}
			winner = i
		case errors.Is(err, store.ErrConsumed):
			wantAbsent(t, s, sets[i])
		default:
			t.Errorf("ConsumeAuthCode #%d error = %v, want nil or %v", i, err, store.ErrConsumed)
		}
	}
	if winner < 0 {
		t.Fatalf("ConsumeAuthCode: no winner")
	}
	// Every loser was a second use, so the winner's family is revoked.
	fam := sets[winner].Family
	fam.RevokedAt = now
	wantIssued(t, s, sets[winner], fam)
	got, err := s.GetAuthCode(ctx, code.CodeHash)
	if err != nil {
		t.Fatalf("GetAuthCode: %v", err)
	}
	if got.FamilyID != fam.ID {
		t.Errorf("AuthCode.FamilyID = %q, want the winner's %q", got.FamilyID, fam.ID)
	}
}

func testRaceRotateRefreshToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	ts := issue(t, s, newTokenSet("f1", "c1", "u1"))
	sets := make([]store.TokenSet, racers)
	for i := range sets {
		sets[i] = newTokenSet(fmt.Sprintf("racer-%d", i), "c1", "u1")
	}
	now := at(time.Hour)
	errs := race(racers, func(i int) error {
		_, err := s.RotateRefreshToken(ctx, ts.Refresh.Hash, "c1", now, 0, Fixed(sets[i]))
		return err
	})
	winners, reused := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case errors.Is(err, store.ErrReused):
			reused++
			wantAbsent(t, s, sets[i])
		case errors.Is(err, store.ErrRevoked):
			wantAbsent(t, s, sets[i])
		default:
			t.Errorf("RotateRefreshToken #%d error = %v, want nil, %v or %v", i, err, store.ErrReused, store.ErrRevoked)
		}
	}
	if winners != 1 {
		t.Errorf("RotateRefreshToken winners = %d, want exactly 1", winners)
	}
	if reused == 0 {
		t.Errorf("RotateRefreshToken: no %v among %d losers", store.ErrReused, racers-winners)
	}
	wantTime(t, "RevokedAt", familyOf(t, s, ts.Refresh.Hash).RevokedAt, now)
}

func testRacePollDeviceGrant(t *testing.T, s store.Store) {
	ctx := t.Context()
	const interval, step = time.Millisecond, time.Millisecond
	g := newDeviceGrant("g1", "c1")
	g.Interval = interval
	if err := s.CreateDeviceGrant(ctx, g); err != nil {
		t.Fatalf("CreateDeviceGrant: %v", err)
	}
	type result struct {
		g   store.DeviceGrant
		out store.PollOutcome
	}
	results := make([]result, racers)
	errs := race(racers, func(i int) error {
		var err error
		results[i].g, results[i].out, err = s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", at(time.Duration(i+1)*interval), step)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("PollDeviceGrant #%d: %v", i, err)
		}
	}

	// Each poll saw its predecessor's state: following PrevPollAt from the
	// poll with none must visit every poll exactly once (no update lost),
	// and each SlowDown and Interval must follow from the one before.
	key := func(x time.Time) int64 {
		if x.IsZero() {
			return math.MinInt64
		}
		return x.UnixMicro()
	}
	byPrev := make(map[int64]result, racers)
	for _, r := range results {
		if _, dup := byPrev[key(r.g.PrevPollAt)]; dup {
			t.Fatalf("two polls saw PrevPollAt %v: an update was lost", r.g.PrevPollAt)
		}
		byPrev[key(r.g.PrevPollAt)] = r
	}
	var last, lastPrev time.Time
	wantInterval := interval
	for k := range racers {
		r, ok := byPrev[key(last)]
		if !ok {
			t.Fatalf("poll #%d in order: none has PrevPollAt %v: an update was lost", k+1, last)
		}
		now := r.g.LastPollAt
		wantSlow := !lastPrev.IsZero() && now.Sub(lastPrev) < wantInterval
		if r.out.SlowDown != wantSlow {
			t.Errorf("poll at %v (#%d in order) SlowDown = %v, want %v", now, k+1, r.out.SlowDown, wantSlow)
		}
		if wantSlow {
			wantInterval += step
		}
		if r.g.Interval != wantInterval {
			t.Errorf("poll at %v (#%d in order) Interval = %v, want %v", now, k+1, r.g.Interval, wantInterval)
		}
		lastPrev, last = last, now
	}
	got := getGrant(t, s, g)
	if !got.LastPollAt.Equal(last) || !got.PrevPollAt.Equal(lastPrev) || got.Interval != wantInterval {
		t.Errorf("final LastPollAt, PrevPollAt, Interval = %v, %v, %v; want %v, %v, %v",
			got.LastPollAt, got.PrevPollAt, got.Interval, last, lastPrev, wantInterval)
	}
}
