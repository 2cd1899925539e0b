package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/store"
)

// securityTests are the conformance tests of store.Security.
var securityTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"RateLimitWindow", testRateLimitWindow},
	{"RateLimitGrowingBlock", testRateLimitGrowingBlock},
	{"RateLimitFixedWindow", testRateLimitFixedWindow},
	{"RateLimitUndoReset", testRateLimitUndoReset},
	{"RaceRateLimit", testRaceRateLimit},
	{"CountLiveDeviceGrants", testCountLiveDeviceGrants},
	{"UserSecurityLockout", testUserSecurityLockout},
	{"UserSecurityMFARequired", testUserSecurityMFARequired},
	{"TOTPEnrolment", testTOTPEnrolment},
	{"TOTPReplay", testTOTPReplay},
	{"RaceTOTPStep", testRaceTOTPStep},
	{"RecoveryCodes", testRecoveryCodes},
	{"AuditEvents", testAuditEvents},
	{"DeleteExpiredSecurity", testDeleteExpiredSecurity},
}

var minute = store.RateRule{Limit: 3, Window: time.Minute, MaxExtra: time.Hour}

type hitWant struct {
	allowed      bool
	overflow     bool
	hits         int
	strikes      int
	blockedUntil time.Time
}

func hit(t *testing.T, s store.Store, key string, now time.Time, rule store.RateRule, want hitWant) {
	t.Helper()
	got, err := s.HitRateLimit(t.Context(), h(key), now, rule)
	if err != nil {
		t.Fatalf("HitRateLimit(%s, %v): %v", key, now.Sub(t0), err)
	}
	w := store.RateHit{Allowed: want.allowed, Overflow: want.overflow, Hits: want.hits, Strikes: want.strikes, BlockedUntil: want.blockedUntil}
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("HitRateLimit(%s, t0+%v) mismatch (-want +got):\n%s", key, now.Sub(t0), diff)
	}
}

func testRateLimitWindow(t *testing.T, s store.Store) {
	// Three hits a minute; the fourth blocks until the window ends; keys
	// are independent.
	hit(t, s, "a", at(0), minute, hitWant{allowed: true, hits: 1})
	hit(t, s, "a", at(10*time.Second), minute, hitWant{allowed: true, hits: 2})
	hit(t, s, "b", at(10*time.Second), minute, hitWant{allowed: true, hits: 1})
	hit(t, s, "a", at(20*time.Second), minute, hitWant{allowed: true, hits: 3})
	hit(t, s, "a", at(30*time.Second), minute, hitWant{overflow: true, hits: 4, strikes: 1, blockedUntil: at(time.Minute)})
	// Blocked hits change nothing.
	hit(t, s, "a", at(59*time.Second), minute, hitWant{allowed: false, hits: 4, strikes: 1, blockedUntil: at(time.Minute)})
	// A new window.
	hit(t, s, "a", at(time.Minute), minute, hitWant{allowed: true, hits: 1, strikes: 1, blockedUntil: at(time.Minute)})
	// Sub-microsecond parts do not matter.
	hit(t, s, "c", at(time.Nanosecond).In(zone), minute, hitWant{allowed: true, hits: 1})
}

func testRateLimitGrowingBlock(t *testing.T, s store.Store) {
	// Each window that overflows again blocks longer: 0, 1, 3, 7 extra
	// windows, capped at MaxExtra.
	rule := store.RateRule{Limit: 1, Window: time.Minute, MaxExtra: 5 * time.Minute}
	now := t0
	for i, extra := range []time.Duration{0, 1, 3, 5, 5} {
		hit(t, s, "k", now, rule, hitWant{allowed: true, hits: 1, strikes: i, blockedUntil: blockedOrZero(i, now)})
		until := now.Add(time.Minute + extra*time.Minute)
		hit(t, s, "k", now.Add(time.Second), rule, hitWant{overflow: true, hits: 2, strikes: i + 1, blockedUntil: until})
		hit(t, s, "k", until.Add(-time.Microsecond), rule, hitWant{allowed: false, hits: 2, strikes: i + 1, blockedUntil: until})
		now = until
	}
	// A quiet window after the block forgets the strikes.
	hit(t, s, "k", now.Add(time.Minute), rule, hitWant{allowed: true, hits: 1})
}

// blockedOrZero is the block end still recorded on a counter with strikes:
// the previous block ended at now.
func blockedOrZero(strikes int, now time.Time) time.Time {
	if strikes == 0 {
		return time.Time{}
	}
	return now
}

func testRateLimitFixedWindow(t *testing.T, s store.Store) {
	rule := store.RateRule{Limit: 2, Window: time.Minute}
	for w := range 3 {
		start := at(time.Duration(w) * time.Minute)
		blocked := time.Time{}
		if w > 0 {
			blocked = start
		}
		hit(t, s, "g", start, rule, hitWant{allowed: true, hits: 1, strikes: w, blockedUntil: blocked})
		hit(t, s, "g", start.Add(time.Second), rule, hitWant{allowed: true, hits: 2, strikes: w, blockedUntil: blocked})
		// MaxExtra 0: the block always ends with the window.
		hit(t, s, "g", start.Add(2*time.Second), rule, hitWant{overflow: true, hits: 3, strikes: w + 1, blockedUntil: start.Add(time.Minute)})
	}
	_, err := s.HitRateLimit(t.Context(), h("g"), t0, store.RateRule{})
	if err == nil {
		t.Error("HitRateLimit(zero rule) succeeded, want an error")
	}
}

func testRateLimitUndoReset(t *testing.T, s store.Store) {
	ctx := t.Context()
	hit(t, s, "u", at(0), minute, hitWant{allowed: true, hits: 1})
	hit(t, s, "u", at(time.Second), minute, hitWant{allowed: true, hits: 2})
	if err := s.UndoRateLimitHit(ctx, h("u")); err != nil {
		t.Fatalf("UndoRateLimitHit: %v", err)
	}
	hit(t, s, "u", at(2*time.Second), minute, hitWant{allowed: true, hits: 2})
	for range 5 {
		if err := s.UndoRateLimitHit(ctx, h("u")); err != nil {
			t.Fatalf("UndoRateLimitHit: %v", err)
		}
	}
	hit(t, s, "u", at(3*time.Second), minute, hitWant{allowed: true, hits: 1})
	if err := s.ResetRateLimit(ctx, h("u")); err != nil {
		t.Fatalf("ResetRateLimit: %v", err)
	}
	hit(t, s, "u", at(4*time.Second), minute, hitWant{allowed: true, hits: 1})
	for _, err := range []error{s.UndoRateLimitHit(ctx, h("unknown")), s.ResetRateLimit(ctx, h("unknown"))} {
		if err != nil {
			t.Errorf("undo/reset of an unknown key: %v", err)
		}
	}
}

func testRaceRateLimit(t *testing.T, s store.Store) {
	rule := store.RateRule{Limit: 5, Window: time.Minute}
	hits := make([]store.RateHit, racers)
	errs := race(racers, func(i int) error {
		var err error
		hits[i], err = s.HitRateLimit(t.Context(), h("race"), t0, rule)
		return err
	})
	allowed := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
		if hits[i].Allowed {
			allowed++
		}
	}
	if allowed != rule.Limit {
		t.Errorf("%d of %d concurrent hits allowed, want exactly %d", allowed, racers, rule.Limit)
	}
}

func testCountLiveDeviceGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	count := func(client string, now time.Time, want int) {
		t.Helper()
		got, err := s.CountLiveDeviceGrants(ctx, client, now)
		if err != nil {
			t.Fatalf("CountLiveDeviceGrants: %v", err)
		}
		if got != want {
			t.Errorf("CountLiveDeviceGrants(%s, t0+%v) = %d, want %d", client, now.Sub(t0), got, want)
		}
	}
	count("c1", t0, 0)
	for _, name := range []string{"a", "b", "c"} {
		if err := s.CreateDeviceGrant(ctx, newDeviceGrant(name, "c1")); err != nil {
			t.Fatal(err)
		}
	}
	other := newDeviceGrant("d", "c2")
	if err := s.CreateDeviceGrant(ctx, other); err != nil {
		t.Fatal(err)
	}
	count("c1", t0, 3)
	if _, err := s.DecideDeviceGrant(ctx, h("user-a"), "u1", false, t0); err != nil {
		t.Fatal(err)
	}
	count("c1", t0, 2)
	count("c1", at(10*time.Minute), 0) // all expired
	count("c2", t0, 1)
}

func testUserSecurityLockout(t *testing.T, s store.Store) {
	ctx := t.Context()
	get := func(want store.UserSecurityState) {
		t.Helper()
		got, err := s.GetUserSecurity(ctx, want.UserID)
		if err != nil {
			t.Fatalf("GetUserSecurity: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GetUserSecurity mismatch (-want +got):\n%s", diff)
		}
	}
	fail := func(now time.Time, lockAfter int, want store.UserSecurityState) {
		t.Helper()
		got, err := s.RecordSignInFailure(ctx, want.UserID, now, lockAfter)
		if err != nil {
			t.Fatalf("RecordSignInFailure: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("RecordSignInFailure mismatch (-want +got):\n%s", diff)
		}
	}
	get(store.UserSecurityState{UserID: "u1"})
	fail(at(1*time.Second), 3, store.UserSecurityState{UserID: "u1", Failures: 1})
	fail(at(2*time.Second), 3, store.UserSecurityState{UserID: "u1", Failures: 2})
	fail(at(3*time.Second), 3, store.UserSecurityState{UserID: "u1", Failures: 3, LockedAt: at(3 * time.Second)})
	fail(at(4*time.Second), 3, store.UserSecurityState{UserID: "u1", Failures: 4, LockedAt: at(3 * time.Second)})
	get(store.UserSecurityState{UserID: "u1", Failures: 4, LockedAt: at(3 * time.Second)})
	get(store.UserSecurityState{UserID: "u2"})
	// lockAfter 0 never locks; 1 locks at the first failure.
	fail(at(time.Second), 0, store.UserSecurityState{UserID: "u2", Failures: 1})
	fail(at(time.Second), 0, store.UserSecurityState{UserID: "u2", Failures: 2})
	fail(at(time.Second), 1, store.UserSecurityState{UserID: "u3", Failures: 1, LockedAt: at(time.Second)})

	if err := s.ClearSignInFailures(ctx, "u1"); err != nil {
		t.Fatalf("ClearSignInFailures: %v", err)
	}
	get(store.UserSecurityState{UserID: "u1"})
	if err := s.ClearSignInFailures(ctx, "nobody"); err != nil {
		t.Errorf("ClearSignInFailures(unknown): %v", err)
	}
	get(store.UserSecurityState{UserID: "u2", Failures: 2})
}

func testUserSecurityMFARequired(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.SetMFARequired(ctx, "u1", true); err != nil {
		t.Fatalf("SetMFARequired: %v", err)
	}
	if _, err := s.RecordSignInFailure(ctx, "u1", t0, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearSignInFailures(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUserSecurity(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.UserSecurityState{UserID: "u1", MFARequired: true}); got != want {
		t.Errorf("GetUserSecurity = %+v, want %+v", got, want)
	}
	if err := s.SetMFARequired(ctx, "u1", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetUserSecurity(ctx, "u1"); got.MFARequired {
		t.Error("MFARequired still set after SetMFARequired(false)")
	}
}

func testTOTPEnrolment(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetTOTP(ctx, "u1")
	wantErr(t, "GetTOTP(none)", err, store.ErrNotFound)
	first := store.TOTP{UserID: "u1", Secret: []byte("sealed-1"), CreatedAt: at(time.Nanosecond).In(zone)}
	if err := s.PutTOTP(ctx, first); err != nil {
		t.Fatalf("PutTOTP: %v", err)
	}
	second := store.TOTP{UserID: "u1", Secret: []byte("sealed-2"), CreatedAt: at(time.Minute)}
	if err := s.PutTOTP(ctx, second); err != nil {
		t.Fatalf("PutTOTP(replace unconfirmed): %v", err)
	}
	got, err := s.GetTOTP(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(second, got); diff != "" {
		t.Errorf("GetTOTP (pending) mismatch (-want +got):\n%s", diff)
	}
	// Confirming needs the stored secret.
	wantErr(t, "ConfirmTOTP(other secret)", s.ConfirmTOTP(ctx, "u1", []byte("sealed-1"), 7, nil, at(2*time.Minute)), store.ErrNotFound)
	wantErr(t, "ConfirmTOTP(other user)", s.ConfirmTOTP(ctx, "u2", []byte("sealed-2"), 7, nil, at(2*time.Minute)), store.ErrNotFound)
	codes := [][]byte{h("r1"), h("r2")}
	if err := s.ConfirmTOTP(ctx, "u1", []byte("sealed-2"), 7, codes, at(2*time.Minute)); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	want := second
	want.ConfirmedAt, want.LastStep = at(2*time.Minute), 7
	got, err = s.GetTOTP(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetTOTP (confirmed) mismatch (-want +got):\n%s", diff)
	}
	wantErr(t, "ConfirmTOTP(again)", s.ConfirmTOTP(ctx, "u1", []byte("sealed-2"), 8, nil, at(3*time.Minute)), store.ErrNotFound)
	wantErr(t, "PutTOTP(over confirmed)", s.PutTOTP(ctx, first), store.ErrAlreadyExists)
	if n, err := s.CountRecoveryCodes(ctx, "u1"); err != nil || n != 2 {
		t.Errorf("CountRecoveryCodes = %d, %v; want 2", n, err)
	}

	// Reset: everything goes, and a new enrolment can start.
	if err := s.DeleteMFA(ctx, "u1"); err != nil {
		t.Fatalf("DeleteMFA: %v", err)
	}
	_, err = s.GetTOTP(ctx, "u1")
	wantErr(t, "GetTOTP(deleted)", err, store.ErrNotFound)
	if n, err := s.CountRecoveryCodes(ctx, "u1"); err != nil || n != 0 {
		t.Errorf("CountRecoveryCodes after reset = %d, %v; want 0", n, err)
	}
	if err := s.PutTOTP(ctx, first); err != nil {
		t.Errorf("PutTOTP after reset: %v", err)
	}
	if err := s.DeleteMFA(ctx, "nobody"); err != nil {
		t.Errorf("DeleteMFA(unknown): %v", err)
	}
}

func confirmedTOTP(t *testing.T, s store.Store, userID string, step int64, codes ...[]byte) {
	t.Helper()
	if err := s.PutTOTP(t.Context(), store.TOTP{UserID: userID, Secret: []byte("sealed"), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmTOTP(t.Context(), userID, []byte("sealed"), step, codes, t0); err != nil {
		t.Fatal(err)
	}
}

func testTOTPReplay(t *testing.T, s store.Store) {
	ctx := t.Context()
	wantErr(t, "UseTOTPStep(no enrolment)", s.UseTOTPStep(ctx, "u1", 5), store.ErrNotFound)
	if err := s.PutTOTP(ctx, store.TOTP{UserID: "u1", Secret: []byte("sealed"), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "UseTOTPStep(unconfirmed)", s.UseTOTPStep(ctx, "u1", 5), store.ErrNotFound)
	if err := s.ConfirmTOTP(ctx, "u1", []byte("sealed"), 10, nil, t0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "UseTOTPStep(confirming step)", s.UseTOTPStep(ctx, "u1", 10), store.ErrConsumed)
	wantErr(t, "UseTOTPStep(earlier)", s.UseTOTPStep(ctx, "u1", 9), store.ErrConsumed)
	if err := s.UseTOTPStep(ctx, "u1", 11); err != nil {
		t.Fatalf("UseTOTPStep(next): %v", err)
	}
	wantErr(t, "UseTOTPStep(replay)", s.UseTOTPStep(ctx, "u1", 11), store.ErrConsumed)
	if err := s.UseTOTPStep(ctx, "u1", 1_000_000_000); err != nil {
		t.Fatalf("UseTOTPStep(much later): %v", err)
	}
	got, err := s.GetTOTP(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got.LastStep != 1_000_000_000 {
		t.Errorf("LastStep = %d, want 1000000000", got.LastStep)
	}
}

func testRaceTOTPStep(t *testing.T, s store.Store) {
	confirmedTOTP(t, s, "u1", 1)
	errs := race(racers, func(int) error { return s.UseTOTPStep(t.Context(), "u1", 2) })
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConsumed):
			t.Errorf("UseTOTPStep: %v, want nil or %v", err, store.ErrConsumed)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent uses of one step succeeded, want 1", wins)
	}
}

func testRecoveryCodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	confirmedTOTP(t, s, "u1", 1, h("r1"), h("r2"), h("r2"))
	confirmedTOTP(t, s, "u2", 1, h("r1"))
	if n, err := s.CountRecoveryCodes(ctx, "u1"); err != nil || n != 2 {
		t.Errorf("CountRecoveryCodes = %d, %v; want 2 (duplicates stored once)", n, err)
	}
	if err := s.UseRecoveryCode(ctx, "u1", h("r1")); err != nil {
		t.Fatalf("UseRecoveryCode: %v", err)
	}
	wantErr(t, "UseRecoveryCode(used)", s.UseRecoveryCode(ctx, "u1", h("r1")), store.ErrNotFound)
	wantErr(t, "UseRecoveryCode(unknown)", s.UseRecoveryCode(ctx, "u1", h("nope")), store.ErrNotFound)
	// Another user's code is theirs alone.
	if err := s.UseRecoveryCode(ctx, "u2", h("r1")); err != nil {
		t.Errorf("UseRecoveryCode(other user's equal hash): %v", err)
	}
	errs := race(racers, func(int) error { return s.UseRecoveryCode(t.Context(), "u1", h("r2")) })
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UseRecoveryCode: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent uses of one recovery code succeeded, want 1", wins)
	}
}

func testAuditEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListAuditEvents(ctx, store.AuditQuery{})
	if err != nil || len(got) != 0 {
		t.Fatalf("ListAuditEvents(empty) = %v, %v; want none", got, err)
	}
	if err := s.AppendAuditEvents(ctx, nil); err != nil {
		t.Errorf("AppendAuditEvents(nil): %v", err)
	}
	var all []store.AuditEvent
	for i := range 6 {
		user := "u1"
		if i%2 == 1 {
			user = "u2"
		}
		all = append(all, store.AuditEvent{
			ID:        999, // ignored
			Time:      at(time.Duration(i)*time.Minute + time.Nanosecond).In(zone),
			Type:      fmt.Sprintf("type.%d", i),
			UserID:    user,
			ClientID:  "c1",
			Detail:    "détail ✓",
			RequestID: "req",
			ClientIP:  "2001:db8::1",
		})
	}
	if err := s.AppendAuditEvents(ctx, all[:1]); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	if err := s.AppendAuditEvents(ctx, all[1:]); err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	want := func(idx ...int) []store.AuditEvent {
		var out []store.AuditEvent
		for _, i := range idx {
			e := all[i]
			e.Time = utcMicro(e.Time)
			out = append(out, e)
		}
		return out
	}
	ignoreID := cmp.Comparer(func(a, b store.AuditEvent) bool {
		a.ID, b.ID = 0, 0
		return a == b
	})
	check := func(q store.AuditQuery, w []store.AuditEvent) []store.AuditEvent {
		t.Helper()
		got, err := s.ListAuditEvents(ctx, q)
		if err != nil {
			t.Fatalf("ListAuditEvents(%+v): %v", q, err)
		}
		if diff := cmp.Diff(w, got, ignoreID, equateEmpty); diff != "" {
			t.Errorf("ListAuditEvents(%+v) mismatch (-want +got):\n%s", q, diff)
		}
		return got
	}
	got = check(store.AuditQuery{}, want(0, 1, 2, 3, 4, 5))
	for i := 1; i < len(got); i++ {
		if got[i].ID <= got[i-1].ID {
			t.Errorf("IDs not increasing: %d after %d", got[i].ID, got[i-1].ID)
		}
	}
	check(store.AuditQuery{UserID: "u2"}, want(1, 3, 5))
	// Event 2 was at 2m+1ns, stored as 2m.
	check(store.AuditQuery{Since: at(2 * time.Minute)}, want(2, 3, 4, 5))
	check(store.AuditQuery{Since: at(2*time.Minute + time.Microsecond)}, want(3, 4, 5))
	check(store.AuditQuery{Limit: 2}, want(4, 5))
	check(store.AuditQuery{UserID: "u1", Since: at(time.Minute), Limit: 1}, want(4))
	check(store.AuditQuery{UserID: "nobody"}, nil)

	// A batch larger than a store writes in one statement keeps every
	// event and their order.
	var bulk []store.AuditEvent
	for i := range 150 {
		bulk = append(bulk, store.AuditEvent{Time: at(time.Hour + time.Duration(i)*time.Second),
			Type: fmt.Sprintf("bulk.%d", i), UserID: "bulk", ClientID: "c1", RequestID: fmt.Sprint(i)})
	}
	if err := s.AppendAuditEvents(ctx, bulk); err != nil {
		t.Fatalf("AppendAuditEvents(150 events): %v", err)
	}
	got = check(store.AuditQuery{UserID: "bulk"}, bulk)
	for i := 1; i < len(got); i++ {
		if got[i].ID <= got[i-1].ID {
			t.Fatalf("bulk IDs not increasing: %d after %d", got[i].ID, got[i-1].ID)
		}
	}
}

// utcMicro is a time as the store returns it.
func utcMicro(t time.Time) time.Time { return time.UnixMicro(t.UnixMicro()).UTC() }

func testDeleteExpiredSecurity(t *testing.T, s store.Store) {
	ctx := t.Context()
	rule := store.RateRule{Limit: 1, Window: time.Minute}
	for i := range 3 {
		if _, err := s.HitRateLimit(ctx, h(fmt.Sprint("k", i)), at(time.Duration(i)*time.Minute), rule); err != nil {
			t.Fatal(err)
		}
	}
	var events []store.AuditEvent
	for i := range 3 {
		events = append(events, store.AuditEvent{Time: at(time.Duration(i) * time.Hour), Type: "t"})
	}
	if err := s.AppendAuditEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	// Counters expire two windows after their first hit; audit events are
	// kept when auditBefore is zero.
	n, err := s.DeleteExpiredSecurity(ctx, at(3*time.Minute+time.Second), time.Time{}, 100)
	if err != nil {
		t.Fatalf("DeleteExpiredSecurity: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteExpiredSecurity removed %d rows, want 2 counters", n)
	}
	// k2 is still counting; k0 was forgotten.
	hit(t, s, "k2", at(2*time.Minute+time.Second), rule, hitWant{overflow: true, hits: 2, strikes: 1, blockedUntil: at(3 * time.Minute)})
	hit(t, s, "k0", at(2*time.Second), rule, hitWant{allowed: true, hits: 1})

	n, err = s.DeleteExpiredSecurity(ctx, t0, at(90*time.Minute), 1)
	if err != nil {
		t.Fatalf("DeleteExpiredSecurity(audit): %v", err)
	}
	if n != 1 {
		t.Errorf("DeleteExpiredSecurity(limit 1) removed %d rows, want 1", n)
	}
	if n, _ := s.DeleteExpiredSecurity(ctx, t0, at(90*time.Minute), 100); n != 1 {
		t.Errorf("DeleteExpiredSecurity removed %d more rows, want 1", n)
	}
	got, err := s.ListAuditEvents(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Time.Equal(at(2*time.Hour)) {
		t.Errorf("audit events left = %+v, want the one at t0+2h", got)
	}
	if n, err := s.DeleteExpiredSecurity(ctx, t0, t0, 0); n != 0 || err != nil {
		t.Errorf("DeleteExpiredSecurity(limit 0) = %d, %v; want 0, nil", n, err)
	}
}
