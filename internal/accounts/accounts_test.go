package accounts_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/accounts"
	"github.com/ssooidc/ssooidc/internal/credentials"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

func newService(t *testing.T) (*accounts.Service, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ssooidc.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.New(bytes.Repeat([]byte{5}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "bob"} {
		if err := st.CreateUser(t.Context(), store.User{ID: "id-" + name, Name: name, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	src := credentials.NewStatic(st, keys, func() time.Time { return t0 })
	return accounts.New(st, keys, accounts.Config{Source: src}, func() time.Time { return t0 }, nil), st
}

func wantErrText(t *testing.T, what string, err error, text string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), text) {
		t.Errorf("%s: error = %v, want one containing %q", what, err, text)
	}
}

func TestAdminValidation(t *testing.T) {
	s, _ := newService(t)
	ctx := t.Context()
	_, err := s.AddAccount(ctx, "12345", "", "not an address")
	for _, want := range []string{`account id "12345" is not 12 digits`, "account name must be", `email "not an address"`} {
		wantErrText(t, "AddAccount(bad)", err, want)
	}
	if _, err := s.AddAccount(ctx, "111122223333", "Production", "aws@example.com"); err != nil {
		t.Fatalf("AddAccount: %v", err)
	}
	_, err = s.AddAccount(ctx, "111122223333", "Again", "")
	wantErrText(t, "AddAccount(twice)", err, "already exists")
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("AddAccount(twice) = %v, want store.ErrAlreadyExists", err)
	}
	_, err = s.AddGroup(ctx, "two words")
	wantErrText(t, "AddGroup(bad name)", err, "group name")
	alice := accounts.Principal{Type: store.PrincipalUser, Name: "alice"}
	_, err = s.Assign(ctx, alice, "111122223333", "role/with/path", time.Hour)
	wantErrText(t, "Assign(bad role)", err, "role name")
	_, err = s.Assign(ctx, alice, "999999999999", "ReadOnly", time.Hour)
	wantErrText(t, "Assign(unknown account)", err, "no account 999999999999")
	_, err = s.Assign(ctx, accounts.Principal{Type: store.PrincipalUser, Name: "nobody"}, "111122223333", "ReadOnly", time.Hour)
	wantErrText(t, "Assign(unknown user)", err, `no user "nobody"`)
	_, err = s.Assign(ctx, accounts.Principal{Type: store.PrincipalGroup, Name: "nobody"}, "111122223333", "ReadOnly", time.Hour)
	wantErrText(t, "Assign(unknown group)", err, `no group "nobody"`)
	err = s.SetStaticCredentials(ctx, "999999999999", "", "AKID", "secret", "")
	wantErrText(t, "SetStaticCredentials(unknown account)", err, "no account 999999999999")
	err = s.Unassign(ctx, alice, "111122223333", "ReadOnly")
	wantErrText(t, "Unassign(not assigned)", err, "no assignment of role ReadOnly in account 111122223333 to user alice")
}

func TestAssignDurations(t *testing.T) {
	s, _ := newService(t)
	ctx := t.Context()
	if _, err := s.AddAccount(ctx, "111122223333", "Production", ""); err != nil {
		t.Fatal(err)
	}
	alice := accounts.Principal{Type: store.PrincipalUser, Name: "alice"}
	for _, tc := range []struct {
		role      string
		requested time.Duration
		want      time.Duration
	}{
		{"Default", 0, time.Hour},
		{"Long", 24 * time.Hour, 12 * time.Hour},
		{"Short", time.Minute, 15 * time.Minute},
		{"Eight", 8 * time.Hour, 8 * time.Hour},
	} {
		a, err := s.Assign(ctx, alice, "111122223333", tc.role, tc.requested)
		if err != nil {
			t.Fatalf("Assign(%s): %v", tc.role, err)
		}
		if a.Duration != tc.want {
			t.Errorf("Assign(%s, %v).Duration = %v, want %v", tc.role, tc.requested, a.Duration, tc.want)
		}
	}
	if _, err := s.Assign(ctx, alice, "111122223333", "Negative", -time.Hour); err == nil {
		t.Error("Assign accepted a negative duration")
	}
}

func TestGroupsAndAssignmentViews(t *testing.T) {
	s, st := newService(t)
	ctx := t.Context()
	if _, err := s.AddAccount(ctx, "111122223333", "Production", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddGroup(ctx, "devs"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bob", "alice"} {
		if err := s.AddMember(ctx, "devs", u); err != nil {
			t.Fatal(err)
		}
	}
	wantErrText(t, "AddMember(twice)", s.AddMember(ctx, "devs", "bob"), "already a member")
	wantErrText(t, "AddMember(unknown user)", s.AddMember(ctx, "devs", "carol"), `no user "carol"`)
	devs := accounts.Principal{Type: store.PrincipalGroup, Name: "devs"}
	bob := accounts.Principal{Type: store.PrincipalUser, Name: "bob"}
	if _, err := s.Assign(ctx, devs, "111122223333", "Developer", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assign(ctx, bob, "111122223333", "Admin", time.Hour); err != nil {
		t.Fatal(err)
	}

	// bob is deleted: his membership and assignment stay, nameless, and
	// grant nothing.
	if err := st.DeleteUser(ctx, "id-bob", t0); err != nil {
		t.Fatal(err)
	}
	members, err := s.Members(ctx, "devs")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]accounts.Member{{UserID: "id-alice", Name: "alice"}, {UserID: "id-bob"}}, members); diff != "" {
		t.Errorf("Members mismatch (-want +got):\n%s", diff)
	}
	views, err := s.Assignments(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range views {
		got = append(got, string(v.PrincipalType)+":"+v.PrincipalName+":"+v.RoleName+":"+v.Duration.String())
	}
	if diff := cmp.Diff([]string{"user::Admin:1h0m0s", "group:devs:Developer:2h0m0s"}, got); diff != "" {
		t.Errorf("Assignments mismatch (-want +got):\n%s", diff)
	}
	views, err = s.Assignments(ctx, "111122223333", &devs)
	if err != nil || len(views) != 1 || views[0].RoleName != "Developer" {
		t.Errorf("Assignments(devs) = %+v, %v; want Developer", views, err)
	}

	if err := s.RemoveMember(ctx, "devs", "alice"); err != nil {
		t.Fatal(err)
	}
	wantErrText(t, "RemoveMember(again)", s.RemoveMember(ctx, "devs", "alice"), "no member alice of group devs")
	if err := s.RemoveGroup(ctx, "devs"); err != nil {
		t.Fatal(err)
	}
	wantErrText(t, "RemoveGroup(again)", s.RemoveGroup(ctx, "devs"), `no group "devs"`)
	if err := s.RemoveAccount(ctx, "111122223333"); err != nil {
		t.Fatal(err)
	}
	if views, err := s.Assignments(ctx, "", nil); err != nil || len(views) != 0 {
		t.Errorf("Assignments after removing the account = %+v, %v; want none", views, err)
	}
}

func TestCredentialsRefusals(t *testing.T) {
	s, st := newService(t)
	ctx := t.Context()
	if _, err := s.AddAccount(ctx, "111122223333", "Production", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assign(ctx, accounts.Principal{Type: store.PrincipalUser, Name: "bob"}, "111122223333", "Admin", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assign(ctx, accounts.Principal{Type: store.PrincipalUser, Name: "alice"}, "111122223333", "ReadOnly", time.Hour); err != nil {
		t.Fatal(err)
	}
	alice := accounts.Caller{UserID: "id-alice", ClientID: "c1"}
	for _, tc := range []struct {
		account, role string
		want          error
	}{
		{"999999999999", "ReadOnly", accounts.ErrNoAccount},
		{"not-an-id", "ReadOnly", accounts.ErrNoAccount},
		{"111122223333", "Nope", accounts.ErrNoRole},
		{"111122223333", "Admin", accounts.ErrNotAssigned},
	} {
		if _, err := s.Credentials(ctx, alice, tc.account, tc.role); !errors.Is(err, tc.want) {
			t.Errorf("Credentials(%s, %s) = %v, want %v", tc.account, tc.role, err, tc.want)
		}
	}
	if _, err := s.Credentials(ctx, alice, "111122223333", "ReadOnly"); err != nil {
		t.Errorf("Credentials(ReadOnly): %v", err)
	}
	if err := st.DeleteUser(ctx, "id-alice", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Credentials(ctx, alice, "111122223333", "ReadOnly"); !errors.Is(err, accounts.ErrNoUser) {
		t.Errorf("Credentials(deleted user) = %v, want ErrNoUser", err)
	}
	noSource := accounts.New(st, nil, accounts.Config{}, nil, nil)
	if _, err := noSource.Credentials(ctx, accounts.Caller{UserID: "id-bob"}, "111122223333", "Admin"); !errors.Is(err, accounts.ErrSource) {
		t.Errorf("Credentials without a source = %v, want ErrSource", err)
	}
}
