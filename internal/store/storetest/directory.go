package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/store"
)

func testUserRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newUser("u1", "alice")
	want.Disabled = true
	if err := s.CreateUser(ctx, want); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	got, err := s.GetUser(ctx, "u1")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetUser mismatch (-want +got):\n%s", diff)
	}
	got, err = s.GetUserByName(ctx, "alice")
	if err != nil {
		t.Fatalf("GetUserByName: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetUserByName mismatch (-want +got):\n%s", diff)
	}

	minimal := store.User{ID: "u2", Name: "bob", CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateUser(ctx, minimal); err != nil {
		t.Fatalf("CreateUser(minimal): %v", err)
	}
	got, err = s.GetUser(ctx, "u2")
	if err != nil {
		t.Fatalf("GetUser(minimal): %v", err)
	}
	if diff := cmp.Diff(minimal, got); diff != "" {
		t.Errorf("GetUser(minimal) mismatch (-want +got):\n%s", diff)
	}
}

func testUserDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newUser("u1", "alice")
	if err := s.CreateUser(ctx, want); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	wantErr(t, "CreateUser(duplicate id)", s.CreateUser(ctx, newUser("u1", "bob")), store.ErrAlreadyExists)
	wantErr(t, "CreateUser(duplicate name)", s.CreateUser(ctx, newUser("u2", "alice")), store.ErrAlreadyExists)
	_, err := s.GetUserByName(ctx, "bob")
	wantErr(t, "GetUserByName(rejected)", err, store.ErrNotFound)
	_, err = s.GetUser(ctx, "u2")
	wantErr(t, "GetUser(rejected)", err, store.ErrNotFound)
	got, err := s.GetUser(ctx, "u1")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetUser after duplicates mismatch (-want +got):\n%s", diff)
	}
}

func testUserNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetUser(ctx, "nope")
	wantErr(t, "GetUser(unknown)", err, store.ErrNotFound)
	_, err = s.GetUserByName(ctx, "nope")
	wantErr(t, "GetUserByName(unknown)", err, store.ErrNotFound)
	wantErr(t, "UpdateUser(unknown)", s.UpdateUser(ctx, newUser("nope", "nope")), store.ErrNotFound)
	if err := s.DeleteUser(ctx, "nope", t0); err != nil {
		wantErr(t, "DeleteUser(unknown)", err, store.ErrNotFound)
	}
}

func testListUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers(empty): %v", err)
	}
	if len(got) != 0 {
		t.Errorf("ListUsers(empty) = %v, want none", got)
	}
	var want []store.User
	for _, name := range []string{"carol", "alice", "dave", "bob"} {
		u := newUser("id-"+name, name)
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		want = append(want, u)
	}
	want[0], want[1], want[2], want[3] = want[1], want[3], want[0], want[2]
	got, err = s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListUsers mismatch (-want +got):\n%s", diff)
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newUser("u1", "alice")
	if err := s.CreateUser(ctx, orig); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	update := store.User{
		ID:           "u1",
		Name:         "mallory", // immutable: ignored
		Email:        "alice@new.example.test",
		DisplayName:  "Alice Liddell",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$bmV3c2FsdA$bmV3aGFzaA",
		Disabled:     true,
		CreatedAt:    at(time.Hour), // immutable: ignored
		UpdatedAt:    at(time.Minute),
	}
	if err := s.UpdateUser(ctx, update); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	want := update
	want.Name, want.CreatedAt = orig.Name, orig.CreatedAt
	got, err := s.GetUser(ctx, "u1")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetUser after update mismatch (-want +got):\n%s", diff)
	}
	_, err = s.GetUserByName(ctx, "mallory")
	wantErr(t, "GetUserByName(ignored new name)", err, store.ErrNotFound)

	// Back to enabled, fields cleared.
	update = store.User{ID: "u1", UpdatedAt: at(2 * time.Minute)}
	if err := s.UpdateUser(ctx, update); err != nil {
		t.Fatalf("UpdateUser(clear): %v", err)
	}
	want = store.User{ID: "u1", Name: "alice", CreatedAt: orig.CreatedAt, UpdatedAt: update.UpdatedAt}
	got, err = s.GetUserByName(ctx, "alice")
	if err != nil {
		t.Fatalf("GetUserByName: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetUserByName after clearing update mismatch (-want +got):\n%s", diff)
	}
}

func testDeleteUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, u := range []store.User{newUser("u1", "alice"), newUser("u2", "bob")} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
	}
	gone1, gone2, kept := newSession("a1", "u1"), newSession("a2", "u1"), newSession("b1", "u2")
	for _, se := range []store.Session{gone1, gone2, kept} {
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	revoked := issue(t, s, newTokenSet("alice", "c1", "u1"))
	live := issue(t, s, newTokenSet("bob", "c1", "u2"))

	t1 := at(time.Hour)
	if err := s.DeleteUser(ctx, "u1", t1); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err := s.GetUser(ctx, "u1")
	wantErr(t, "GetUser(deleted)", err, store.ErrNotFound)
	_, err = s.GetUserByName(ctx, "alice")
	wantErr(t, "GetUserByName(deleted)", err, store.ErrNotFound)
	for _, se := range []store.Session{gone1, gone2} {
		_, err := s.GetSession(ctx, se.IDHash)
		wantErr(t, "GetSession(deleted user's)", err, store.ErrNotFound)
	}
	if got, err := s.GetSession(ctx, kept.IDHash); err != nil {
		t.Errorf("GetSession(other user's): %v", err)
	} else if diff := cmp.Diff(kept, got); diff != "" {
		t.Errorf("other user's session mismatch (-want +got):\n%s", diff)
	}
	fam := revoked.Family
	fam.RevokedAt = t1
	wantIssued(t, s, revoked, fam)
	wantIssued(t, s, live, live.Family)
	if _, err := s.GetUser(ctx, "u2"); err != nil {
		t.Errorf("GetUser(other user): %v", err)
	}

	// The name is free again.
	if err := s.CreateUser(ctx, newUser("u3", "alice")); err != nil {
		t.Errorf("CreateUser(reused name): %v", err)
	}
}

// Sessions.

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newSession("s1", "u1")
	if err := s.CreateSession(ctx, want); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	got, err := s.GetSession(ctx, want.IDHash)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetSession mismatch (-want +got):\n%s", diff)
	}
	dup := newSession("s1", "u2")
	wantErr(t, "CreateSession(duplicate)", s.CreateSession(ctx, dup), store.ErrAlreadyExists)
	_, err = s.GetSession(ctx, h("nope"))
	wantErr(t, "GetSession(unknown)", err, store.ErrNotFound)

	// Expiry is the caller's decision.
	old := newSession("old", "u1")
	old.ExpiresAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.CreateSession(ctx, old); err != nil {
		t.Fatalf("CreateSession(expired): %v", err)
	}
	if _, err := s.GetSession(ctx, old.IDHash); err != nil {
		t.Errorf("GetSession(expired): %v", err)
	}
}

func testDeleteSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	a1, a2, a3, b1 := newSession("a1", "u1"), newSession("a2", "u1"), newSession("a3", "u1"), newSession("b1", "u2")
	for _, se := range []store.Session{a1, a2, a3, b1} {
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	if err := s.DeleteSession(ctx, a1.IDHash); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	_, err := s.GetSession(ctx, a1.IDHash)
	wantErr(t, "GetSession(deleted)", err, store.ErrNotFound)
	if _, err := s.GetSession(ctx, a2.IDHash); err != nil {
		t.Errorf("GetSession(sibling): %v", err)
	}
	if err := s.DeleteSession(ctx, a1.IDHash); err != nil {
		wantErr(t, "DeleteSession(unknown)", err, store.ErrNotFound)
	}

	if err := s.DeleteUserSessions(ctx, "u1"); err != nil {
		t.Fatalf("DeleteUserSessions: %v", err)
	}
	for _, se := range []store.Session{a2, a3} {
		_, err := s.GetSession(ctx, se.IDHash)
		wantErr(t, "GetSession(user's, deleted)", err, store.ErrNotFound)
	}
	if _, err := s.GetSession(ctx, b1.IDHash); err != nil {
		t.Errorf("GetSession(other user's): %v", err)
	}
	if err := s.DeleteUserSessions(ctx, "nobody"); err != nil {
		t.Errorf("DeleteUserSessions(user without sessions): %v", err)
	}
}

// Settings.

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetSetting(ctx, "key_fingerprint")
	wantErr(t, "GetSetting(unset)", err, store.ErrNotFound)

	got, err := s.PutSettingIfAbsent(ctx, "key_fingerprint", "first")
	if err != nil {
		t.Fatalf("PutSettingIfAbsent: %v", err)
	}
	if got != "first" {
		t.Errorf("PutSettingIfAbsent(absent) = %q, want %q", got, "first")
	}
	got, err = s.PutSettingIfAbsent(ctx, "key_fingerprint", "second")
	if err != nil {
		t.Fatalf("PutSettingIfAbsent(set): %v", err)
	}
	if got != "first" {
		t.Errorf("PutSettingIfAbsent(set) = %q, want %q", got, "first")
	}
	got, err = s.GetSetting(ctx, "key_fingerprint")
	if err != nil {
		t.Fatalf("GetSetting: %v", err)
	}
	if got != "first" {
		t.Errorf("GetSetting = %q, want %q", got, "first")
	}

	// An empty value is a value.
	if got, err := s.PutSettingIfAbsent(ctx, "empty", ""); err != nil || got != "" {
		t.Errorf("PutSettingIfAbsent(empty) = %q, %v; want \"\", nil", got, err)
	}
	if got, err := s.GetSetting(ctx, "empty"); err != nil || got != "" {
		t.Errorf("GetSetting(empty) = %q, %v; want \"\", nil", got, err)
	}
}
