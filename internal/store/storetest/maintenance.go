package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

func testDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(30 * time.Minute)
	const keep = time.Hour
	horizon := now.Add(-keep) // grants and codes are due when ExpiresAt+keep < now
	before := func(x time.Time) time.Time { return x.Add(-time.Microsecond) }

	clientDue := newClient("due")
	clientDue.ExpiresAt = before(now)
	clientAtNow := newClient("at-now")
	clientAtNow.ExpiresAt = now
	clientNever := newClient("never")
	clientNever.ExpiresAt = time.Time{}
	clientLive := newClient("live")
	for _, c := range []store.Client{clientDue, clientAtNow, clientNever, clientLive} {
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
	}

	grantDue := newDeviceGrant("due", "c1")
	grantDue.ExpiresAt = before(horizon)
	grantAtHorizon := newDeviceGrant("at-horizon", "c1")
	grantAtHorizon.ExpiresAt = horizon
	grantKept := newDeviceGrant("kept", "c1") // expired, but within keep
	grantKept.ExpiresAt = before(now)
	for _, g := range []store.DeviceGrant{grantDue, grantAtHorizon, grantKept} {
		if err := s.CreateDeviceGrant(ctx, g); err != nil {
			t.Fatalf("CreateDeviceGrant: %v", err)
		}
	}

	codeDue := newAuthCode("due", "c1", "u1")
	codeDue.ExpiresAt = before(horizon)
	codeAtHorizon := newAuthCode("at-horizon", "c1", "u1")
	codeAtHorizon.ExpiresAt = horizon
	codeKept := newAuthCode("kept", "c1", "u1")
	codeKept.ExpiresAt = before(now)
	for _, c := range []store.AuthCode{codeDue, codeAtHorizon, codeKept} {
		if err := s.CreateAuthCode(ctx, c); err != nil {
			t.Fatalf("CreateAuthCode: %v", err)
		}
	}

	sessionDue := newSession("due", "u1")
	sessionDue.ExpiresAt = before(now)
	sessionAtNow := newSession("at-now", "u1")
	sessionAtNow.ExpiresAt = now
	for _, se := range []store.Session{sessionDue, sessionAtNow} {
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}

	// issue's own codes expire at(10m): not due at this horizon.
	famDue := newTokenSet("due", "c1", "u1")
	famDue.Family.ExpiresAt = before(now)
	issue(t, s, famDue)
	famAtNow := newTokenSet("at-now", "c1", "u1")
	famAtNow.Family.ExpiresAt = now
	issue(t, s, famAtNow)
	famLive := newTokenSet("live", "c1", "u1")
	famLive.Access.ExpiresAt = at(time.Minute) // an expired token in a live family stays
	famLive.Refresh.ExpiresAt = at(time.Minute)
	issue(t, s, famLive)

	n, err := s.DeleteExpired(ctx, now, keep, 100)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	// One of each kind; a backend may or may not count the due family's two tokens.
	if n < 5 || n > 7 {
		t.Errorf("DeleteExpired = %d, want 5 records (7 counting the family's tokens)", n)
	}

	_, err = s.GetClient(ctx, clientDue.ID)
	wantErr(t, "GetClient(due)", err, store.ErrNotFound)
	for _, c := range []store.Client{clientAtNow, clientNever, clientLive} {
		if _, err := s.GetClient(ctx, c.ID); err != nil {
			t.Errorf("GetClient(%s): %v", c.ID, err)
		}
	}
	_, err = s.GetDeviceGrantByUserCode(ctx, grantDue.UserCodeHash)
	wantErr(t, "GetDeviceGrantByUserCode(due)", err, store.ErrNotFound)
	for _, g := range []store.DeviceGrant{grantAtHorizon, grantKept} {
		if _, err := s.GetDeviceGrantByUserCode(ctx, g.UserCodeHash); err != nil {
			t.Errorf("GetDeviceGrantByUserCode(not due): %v", err)
		}
	}
	_, err = s.GetAuthCode(ctx, codeDue.CodeHash)
	wantErr(t, "GetAuthCode(due)", err, store.ErrNotFound)
	for _, c := range []store.AuthCode{codeAtHorizon, codeKept} {
		if _, err := s.GetAuthCode(ctx, c.CodeHash); err != nil {
			t.Errorf("GetAuthCode(%s): %v", c.Nonce, err)
		}
	}
	_, err = s.GetSession(ctx, sessionDue.IDHash)
	wantErr(t, "GetSession(due)", err, store.ErrNotFound)
	if _, err := s.GetSession(ctx, sessionAtNow.IDHash); err != nil {
		t.Errorf("GetSession(at now): %v", err)
	}
	wantAbsent(t, s, famDue)
	wantIssued(t, s, famAtNow, famAtNow.Family)
	wantIssued(t, s, famLive, famLive.Family)

	n, err = s.DeleteExpired(ctx, now, keep, 100)
	if err != nil {
		t.Fatalf("DeleteExpired(again): %v", err)
	}
	if n != 0 {
		t.Errorf("DeleteExpired(again) = %d, want 0", n)
	}
}

func testDeleteExpiredLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Hour)
	var clients []store.Client
	var sessions []store.Session
	for i := range 5 {
		c := newClient(fmt.Sprintf("c%d", i))
		c.ExpiresAt = at(time.Duration(i) * time.Minute)
		clients = append(clients, c)
		se := newSession(fmt.Sprintf("s%d", i), "u1")
		se.ExpiresAt = at(time.Duration(i) * time.Minute)
		sessions = append(sessions, se)
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	for i, want := range []int{4, 4, 2, 0} {
		n, err := s.DeleteExpired(ctx, now, 0, 2)
		if err != nil {
			t.Fatalf("DeleteExpired #%d: %v", i+1, err)
		}
		if n != want {
			t.Errorf("DeleteExpired #%d (limit 2 per kind) = %d, want %d", i+1, n, want)
		}
	}
	for _, c := range clients {
		_, err := s.GetClient(ctx, c.ID)
		wantErr(t, "GetClient(due)", err, store.ErrNotFound)
	}
	for _, se := range sessions {
		_, err := s.GetSession(ctx, se.IDHash)
		wantErr(t, "GetSession(due)", err, store.ErrNotFound)
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
