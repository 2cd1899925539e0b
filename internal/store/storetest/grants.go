package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/store"
)

func testDeviceGrantRoundTrip(t *testing.T, s store.Store) {
	want := newDeviceGrant("g1", "c1")
	if err := s.CreateDeviceGrant(t.Context(), want); err != nil {
		t.Fatalf("CreateDeviceGrant: %v", err)
	}
	got := getGrant(t, s, want)
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("GetDeviceGrantByUserCode mismatch (-want +got):\n%s", diff)
	}

	// Nil and empty scopes both come back empty.
	for name, scopes := range map[string][]string{"nil-scopes": nil, "empty-scopes": {}} {
		g := newDeviceGrant(name, "c1")
		g.Scopes = scopes
		if err := s.CreateDeviceGrant(t.Context(), g); err != nil {
			t.Fatalf("CreateDeviceGrant(%s): %v", name, err)
		}
		if diff := cmp.Diff(g, getGrant(t, s, g), equateEmpty); diff != "" {
			t.Errorf("GetDeviceGrantByUserCode(%s) mismatch (-want +got):\n%s", name, diff)
		}
	}
}

func testDeviceGrantDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newDeviceGrant("g1", "c1")
	if err := s.CreateDeviceGrant(ctx, want); err != nil {
		t.Fatalf("CreateDeviceGrant: %v", err)
	}

	sameDevice := newDeviceGrant("g2", "c2")
	sameDevice.DeviceCodeHash = want.DeviceCodeHash
	wantErr(t, "CreateDeviceGrant(duplicate device code)", s.CreateDeviceGrant(ctx, sameDevice), store.ErrAlreadyExists)
	_, err := s.GetDeviceGrantByUserCode(ctx, sameDevice.UserCodeHash)
	wantErr(t, "GetDeviceGrantByUserCode(rejected grant)", err, store.ErrNotFound)

	sameUser := newDeviceGrant("g3", "c1")
	sameUser.UserCodeHash = want.UserCodeHash
	wantErr(t, "CreateDeviceGrant(duplicate user code)", s.CreateDeviceGrant(ctx, sameUser), store.ErrAlreadyExists)
	_, _, err = s.PollDeviceGrant(ctx, sameUser.DeviceCodeHash, "c1", t0, time.Second)
	wantErr(t, "PollDeviceGrant(rejected grant)", err, store.ErrNotFound)

	if diff := cmp.Diff(want, getGrant(t, s, want), equateEmpty); diff != "" {
		t.Errorf("grant after duplicates mismatch (-want +got):\n%s", diff)
	}
	// The rejected grant's own user code was not taken by it.
	again := newDeviceGrant("g4", "c2")
	again.UserCodeHash = sameDevice.UserCodeHash
	if err := s.CreateDeviceGrant(ctx, again); err != nil {
		t.Errorf("CreateDeviceGrant(the rejected grant's user code): %v", err)
	}
}

func testDeviceGrantNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetDeviceGrantByUserCode(ctx, h("nope"))
	wantErr(t, "GetDeviceGrantByUserCode(unknown)", err, store.ErrNotFound)
	_, _, err = s.PollDeviceGrant(ctx, h("nope"), "c1", t0, time.Second)
	wantErr(t, "PollDeviceGrant(unknown)", err, store.ErrNotFound)
	_, err = s.DecideDeviceGrant(ctx, h("nope"), "u1", true, t0)
	wantErr(t, "DecideDeviceGrant(unknown)", err, store.ErrNotFound)
	ts := newTokenSet("t1", "c1", "u1")
	err = s.RedeemDeviceGrant(ctx, h("nope"), ts)
	wantErrOneOf(t, "RedeemDeviceGrant(unknown)", err, store.ErrNotFound, store.ErrConsumed)
	wantAbsent(t, s, ts)
}

func testPollDeviceGrant(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := newDeviceGrant("g1", "c1") // Interval 5s
	if err := s.CreateDeviceGrant(ctx, g); err != nil {
		t.Fatalf("CreateDeviceGrant: %v", err)
	}
	const step = 5 * time.Second
	t1 := at(time.Minute)
	t2 := t1.Add(time.Microsecond)
	t3 := t1.Add(5*time.Second - time.Microsecond)
	t4 := t2.Add(10 * time.Second)
	t5 := t3.Add(10*time.Second - time.Microsecond)
	polls := []struct {
		name     string
		now      time.Time
		slowDown bool
		interval time.Duration
		prev     time.Time
	}{
		{"first poll never slows down", t1, false, 5 * time.Second, time.Time{}},
		{"second poll never slows down", t2, false, 5 * time.Second, t1},
		{"third poll sooner than Interval after PrevPollAt", t3, true, 10 * time.Second, t2},
		{"poll exactly Interval after PrevPollAt", t4, false, 10 * time.Second, t3},
		{"poll sooner than the grown Interval", t5, true, 15 * time.Second, t4},
	}
	want := g
	for _, p := range polls {
		got, out, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", p.now, step)
		if err != nil {
			t.Fatalf("%s: PollDeviceGrant: %v", p.name, err)
		}
		if out.SlowDown != p.slowDown {
			t.Errorf("%s: SlowDown = %v, want %v", p.name, out.SlowDown, p.slowDown)
		}
		want.Interval, want.LastPollAt, want.PrevPollAt = p.interval, p.now, p.prev
		if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
			t.Errorf("%s: returned grant mismatch (-want +got):\n%s", p.name, diff)
		}
		if diff := cmp.Diff(want, getGrant(t, s, g), equateEmpty); diff != "" {
			t.Errorf("%s: stored grant mismatch (-want +got):\n%s", p.name, diff)
		}
	}
}

func testPollOnlyPendingSlowsDown(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, status := range []store.DeviceGrantStatus{store.DeviceApproved, store.DeviceDenied, store.DeviceRedeemed} {
		g := newDeviceGrant(string(status), "c1")
		if err := s.CreateDeviceGrant(ctx, g); err != nil {
			t.Fatalf("CreateDeviceGrant: %v", err)
		}
		if _, err := s.DecideDeviceGrant(ctx, g.UserCodeHash, "u1", status != store.DeviceDenied, at(time.Second)); err != nil {
			t.Fatalf("DecideDeviceGrant(%s): %v", status, err)
		}
		if status == store.DeviceRedeemed {
			if err := s.RedeemDeviceGrant(ctx, g.DeviceCodeHash, newTokenSet("redeemed", "c1", "u1")); err != nil {
				t.Fatalf("RedeemDeviceGrant: %v", err)
			}
		}
		var got store.DeviceGrant
		for i := range 4 {
			now := at(time.Minute + time.Duration(i)*time.Microsecond)
			var out store.PollOutcome
			var err error
			got, out, err = s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", now, 5*time.Second)
			if err != nil {
				t.Fatalf("%s: PollDeviceGrant #%d: %v", status, i+1, err)
			}
			if out.SlowDown {
				t.Errorf("%s: PollDeviceGrant #%d SlowDown = true, want false (interval only checked while pending)", status, i+1)
			}
		}
		if got.Status != status || got.Interval != g.Interval {
			t.Errorf("%s: after polls Status, Interval = %s, %v; want %s, %v", status, got.Status, got.Interval, status, g.Interval)
		}
		wantTime(t, string(status)+": LastPollAt", got.LastPollAt, at(time.Minute+3*time.Microsecond))
		wantTime(t, string(status)+": PrevPollAt", got.PrevPollAt, at(time.Minute+2*time.Microsecond))
	}
}

func testPollOtherClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := newDeviceGrant("g1", "c1")
	if err := s.CreateDeviceGrant(ctx, g); err != nil {
		t.Fatalf("CreateDeviceGrant: %v", err)
	}
	want, _, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", at(time.Minute), time.Second)
	if err != nil {
		t.Fatalf("PollDeviceGrant: %v", err)
	}
	// Two bursts from another client: neither is recorded.
	for i := range 3 {
		_, _, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c2", at(time.Minute+time.Duration(i+1)*time.Microsecond), time.Second)
		wantErr(t, "PollDeviceGrant(other client)", err, store.ErrNotFound)
	}
	got := getGrant(t, s, g)
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("grant after other client's polls mismatch (-want +got):\n%s", diff)
	}
	wantTime(t, "LastPollAt", got.LastPollAt, at(time.Minute))
}

func testDecideDeviceGrant(t *testing.T, s store.Store) {
	ctx := t.Context()
	approved := newDeviceGrant("approved", "c1")
	denied := newDeviceGrant("denied", "c1")
	expired := newDeviceGrant("expired", "c1")
	for _, g := range []store.DeviceGrant{approved, denied, expired} {
		if err := s.CreateDeviceGrant(ctx, g); err != nil {
			t.Fatalf("CreateDeviceGrant: %v", err)
		}
	}

	decideAt := at(time.Minute)
	got, err := s.DecideDeviceGrant(ctx, approved.UserCodeHash, "u1", true, decideAt)
	if err != nil {
		t.Fatalf("DecideDeviceGrant(approve): %v", err)
	}
	want := approved
	want.Status, want.UserID, want.DecidedAt = store.DeviceApproved, "u1", decideAt
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("DecideDeviceGrant(approve) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, getGrant(t, s, approved), equateEmpty); diff != "" {
		t.Errorf("approved grant mismatch (-want +got):\n%s", diff)
	}

	got, err = s.DecideDeviceGrant(ctx, denied.UserCodeHash, "u2", false, decideAt)
	if err != nil {
		t.Fatalf("DecideDeviceGrant(deny): %v", err)
	}
	wantDenied := denied
	wantDenied.Status, wantDenied.UserID, wantDenied.DecidedAt = store.DeviceDenied, "u2", decideAt
	if diff := cmp.Diff(wantDenied, got, equateEmpty); diff != "" {
		t.Errorf("DecideDeviceGrant(deny) mismatch (-want +got):\n%s", diff)
	}

	// No longer pending: every later decision is ErrConsumed and changes nothing.
	later := at(2 * time.Minute)
	for _, c := range []struct {
		g       store.DeviceGrant
		approve bool
	}{{approved, true}, {approved, false}, {denied, true}, {denied, false}} {
		_, err := s.DecideDeviceGrant(ctx, c.g.UserCodeHash, "u3", c.approve, later)
		wantErr(t, fmt.Sprintf("DecideDeviceGrant(decided, approve=%v)", c.approve), err, store.ErrConsumed)
	}
	if diff := cmp.Diff(want, getGrant(t, s, approved), equateEmpty); diff != "" {
		t.Errorf("approved grant after re-decision mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantDenied, getGrant(t, s, denied), equateEmpty); diff != "" {
		t.Errorf("denied grant after re-decision mismatch (-want +got):\n%s", diff)
	}

	// Expired (ExpiresAt is at(10m)): ErrExpired, still pending.
	_, err = s.DecideDeviceGrant(ctx, expired.UserCodeHash, "u1", true, at(11*time.Minute))
	wantErr(t, "DecideDeviceGrant(expired)", err, store.ErrExpired)
	if diff := cmp.Diff(expired, getGrant(t, s, expired), equateEmpty); diff != "" {
		t.Errorf("expired grant after decision mismatch (-want +got):\n%s", diff)
	}
}

func testRedeemDeviceGrant(t *testing.T, s store.Store) {
	ctx := t.Context()
	approved := newDeviceGrant("approved", "c1")
	pending := newDeviceGrant("pending", "c1")
	denied := newDeviceGrant("denied", "c1")
	for _, g := range []store.DeviceGrant{approved, pending, denied} {
		if err := s.CreateDeviceGrant(ctx, g); err != nil {
			t.Fatalf("CreateDeviceGrant: %v", err)
		}
	}
	if _, err := s.DecideDeviceGrant(ctx, approved.UserCodeHash, "u1", true, at(time.Minute)); err != nil {
		t.Fatalf("DecideDeviceGrant(approve): %v", err)
	}
	if _, err := s.DecideDeviceGrant(ctx, denied.UserCodeHash, "u1", false, at(time.Minute)); err != nil {
		t.Fatalf("DecideDeviceGrant(deny): %v", err)
	}

	ts := newTokenSet("first", "c1", "u1")
	if err := s.RedeemDeviceGrant(ctx, approved.DeviceCodeHash, ts); err != nil {
		t.Fatalf("RedeemDeviceGrant: %v", err)
	}
	if got := getGrant(t, s, approved); got.Status != store.DeviceRedeemed {
		t.Errorf("after redeem Status = %s, want %s", got.Status, store.DeviceRedeemed)
	}
	wantIssued(t, s, ts, ts.Family)

	again := newTokenSet("again", "c1", "u1")
	wantErr(t, "RedeemDeviceGrant(redeemed)", s.RedeemDeviceGrant(ctx, approved.DeviceCodeHash, again), store.ErrConsumed)
	wantAbsent(t, s, again)
	wantIssued(t, s, ts, ts.Family)

	for _, g := range []store.DeviceGrant{pending, denied} {
		before := getGrant(t, s, g)
		ts := newTokenSet("from-"+string(before.Status), "c1", "u1")
		wantErr(t, fmt.Sprintf("RedeemDeviceGrant(%s)", before.Status), s.RedeemDeviceGrant(ctx, g.DeviceCodeHash, ts), store.ErrConsumed)
		wantAbsent(t, s, ts)
		if diff := cmp.Diff(before, getGrant(t, s, g), equateEmpty); diff != "" {
			t.Errorf("%s grant after redeem mismatch (-want +got):\n%s", before.Status, diff)
		}
	}
}

// Authorization codes.

func testAuthCodeRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newAuthCode("a1", "c1", "u1")
	if err := s.CreateAuthCode(ctx, want); err != nil {
		t.Fatalf("CreateAuthCode: %v", err)
	}
	got, err := s.GetAuthCode(ctx, want.CodeHash)
	if err != nil {
		t.Fatalf("GetAuthCode: %v", err)
	}
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("GetAuthCode mismatch (-want +got):\n%s", diff)
	}
	_, err = s.GetAuthCode(ctx, h("nope"))
	wantErr(t, "GetAuthCode(unknown)", err, store.ErrNotFound)
}

func testAuthCodeDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newAuthCode("a1", "c1", "u1")
	if err := s.CreateAuthCode(ctx, want); err != nil {
		t.Fatalf("CreateAuthCode: %v", err)
	}
	dup := newAuthCode("a1", "c2", "u2")
	wantErr(t, "CreateAuthCode(duplicate)", s.CreateAuthCode(ctx, dup), store.ErrAlreadyExists)
	got, err := s.GetAuthCode(ctx, want.CodeHash)
	if err != nil {
		t.Fatalf("GetAuthCode: %v", err)
	}
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("GetAuthCode after duplicate mismatch (-want +got):\n%s", diff)
	}
}

func testConsumeAuthCode(t *testing.T, s store.Store) {
	ctx := t.Context()
	code := newAuthCode("a1", "c1", "u1")
	if err := s.CreateAuthCode(ctx, code); err != nil {
		t.Fatalf("CreateAuthCode: %v", err)
	}
	first := newTokenSet("first", "c1", "u1")
	t1 := at(time.Minute)
	if err := s.ConsumeAuthCode(ctx, code.CodeHash, t1, first); err != nil {
		t.Fatalf("ConsumeAuthCode: %v", err)
	}
	wantCode := code
	wantCode.ConsumedAt, wantCode.FamilyID = t1, first.Family.ID
	got, err := s.GetAuthCode(ctx, code.CodeHash)
	if err != nil {
		t.Fatalf("GetAuthCode: %v", err)
	}
	if diff := cmp.Diff(wantCode, got, equateEmpty); diff != "" {
		t.Errorf("consumed code mismatch (-want +got):\n%s", diff)
	}
	wantIssued(t, s, first, first.Family)

	// A second use revokes what the first issued (RFC 6749 §4.1.2).
	second := newTokenSet("second", "c1", "u1")
	t2 := at(2 * time.Minute)
	wantErr(t, "ConsumeAuthCode(second use)", s.ConsumeAuthCode(ctx, code.CodeHash, t2, second), store.ErrConsumed)
	wantAbsent(t, s, second)
	revoked := first.Family
	revoked.RevokedAt = t2
	wantIssued(t, s, first, revoked)
	got, err = s.GetAuthCode(ctx, code.CodeHash)
	if err != nil {
		t.Fatalf("GetAuthCode: %v", err)
	}
	if diff := cmp.Diff(wantCode, got, equateEmpty); diff != "" {
		t.Errorf("code after second use mismatch (-want +got):\n%s", diff)
	}

	unknown := newTokenSet("unknown", "c1", "u1")
	wantErr(t, "ConsumeAuthCode(unknown)", s.ConsumeAuthCode(ctx, h("nope"), t1, unknown), store.ErrNotFound)
	wantAbsent(t, s, unknown)
}
