package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/store"
)

// portalTests are the conformance tests of store.Portal.
var portalTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"AccountRoundTrip", testAccountRoundTrip},
	{"GroupRoundTrip", testGroupRoundTrip},
	{"GroupMembers", testGroupMembers},
	{"Assignments", testAssignments},
	{"UserAccountsAndRoles", testUserAccountsAndRoles},
	{"UserAccountsPagination", testUserAccountsPagination},
	{"PortalDeleteCascades", testPortalDeleteCascades},
	{"StaticCredentials", testStaticCredentials},
	{"RaceAddGroupMember", testRaceAddGroupMember},
}

func newAccount(id, name string) store.Account {
	return store.Account{ID: id, Name: name, Email: "aws+" + name + "@example.test", CreatedAt: t0}
}

func newAssignment(account, role string, ptype store.PrincipalType, pid string, d time.Duration) store.Assignment {
	return store.Assignment{AccountID: account, RoleName: role, PrincipalType: ptype, PrincipalID: pid, Duration: d, CreatedAt: t0}
}

func mustCreateAccounts(t *testing.T, s store.Store, accounts ...store.Account) {
	t.Helper()
	for _, a := range accounts {
		if err := s.CreateAccount(t.Context(), a); err != nil {
			t.Fatalf("CreateAccount(%s): %v", a.ID, err)
		}
	}
}

func mustAssign(t *testing.T, s store.Store, as ...store.Assignment) {
	t.Helper()
	for _, a := range as {
		if err := s.CreateAssignment(t.Context(), a); err != nil {
			t.Fatalf("CreateAssignment(%+v): %v", a, err)
		}
	}
}

func testAccountRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := store.Account{ID: "111122223333", Name: "Production", Email: "aws-prod@example.test",
		CreatedAt: time.Date(2026, 11, 28, 15, 0, 0, 123456789, zone)}
	if err := s.CreateAccount(ctx, want); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	got, err := s.GetAccount(ctx, want.ID)
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	wantTime(t, "Account.CreatedAt", got.CreatedAt, want.CreatedAt.Truncate(time.Microsecond))
	want.CreatedAt = got.CreatedAt
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetAccount mismatch (-want +got):\n%s", diff)
	}

	minimal := store.Account{ID: "000000000001", Name: "dev"}
	if err := s.CreateAccount(ctx, minimal); err != nil {
		t.Fatalf("CreateAccount(minimal): %v", err)
	}
	if got, err := s.GetAccount(ctx, minimal.ID); err != nil || !cmp.Equal(minimal, got) {
		t.Errorf("GetAccount(minimal) = %+v, %v; want %+v", got, err, minimal)
	}
	wantErr(t, "CreateAccount(duplicate)", s.CreateAccount(ctx, newAccount(want.ID, "other")), store.ErrAlreadyExists)
	_, err = s.GetAccount(ctx, "999999999999")
	wantErr(t, "GetAccount(unknown)", err, store.ErrNotFound)

	list, err := s.ListAccounts(ctx)
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	var ids []string
	for _, a := range list {
		ids = append(ids, a.ID)
	}
	if diff := cmp.Diff([]string{"000000000001", "111122223333"}, ids); diff != "" {
		t.Errorf("ListAccounts ids mismatch (-want +got):\n%s", diff)
	}

	if err := s.DeleteAccount(ctx, minimal.ID); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	_, err = s.GetAccount(ctx, minimal.ID)
	wantErr(t, "GetAccount(deleted)", err, store.ErrNotFound)
	wantErr(t, "DeleteAccount(again)", s.DeleteAccount(ctx, minimal.ID), store.ErrNotFound)
}

func testGroupRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := store.Group{ID: "g1", Name: "admins", CreatedAt: time.Date(2026, 11, 28, 15, 0, 0, 987654321, zone)}
	if err := s.CreateGroup(ctx, want); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	want.CreatedAt = want.CreatedAt.Truncate(time.Microsecond).UTC()
	for name, get := range map[string]func() (store.Group, error){
		"GetGroup":       func() (store.Group, error) { return s.GetGroup(ctx, "g1") },
		"GetGroupByName": func() (store.Group, error) { return s.GetGroupByName(ctx, "admins") },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantTime(t, name+" CreatedAt", got.CreatedAt, want.CreatedAt)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
		}
	}
	wantErr(t, "CreateGroup(duplicate id)", s.CreateGroup(ctx, store.Group{ID: "g1", Name: "other", CreatedAt: t0}), store.ErrAlreadyExists)
	wantErr(t, "CreateGroup(duplicate name)", s.CreateGroup(ctx, store.Group{ID: "g2", Name: "admins", CreatedAt: t0}), store.ErrAlreadyExists)
	_, err := s.GetGroup(ctx, "g2")
	wantErr(t, "GetGroup(rejected)", err, store.ErrNotFound)
	_, err = s.GetGroupByName(ctx, "nope")
	wantErr(t, "GetGroupByName(unknown)", err, store.ErrNotFound)

	// Byte order: upper case sorts before lower case.
	for _, g := range []store.Group{{ID: "g3", Name: "developers", CreatedAt: t0}, {ID: "g4", Name: "Auditors", CreatedAt: t0}} {
		if err := s.CreateGroup(ctx, g); err != nil {
			t.Fatalf("CreateGroup(%s): %v", g.Name, err)
		}
	}
	list, err := s.ListGroups(ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	var names []string
	for _, g := range list {
		names = append(names, g.Name)
	}
	if diff := cmp.Diff([]string{"Auditors", "admins", "developers"}, names); diff != "" {
		t.Errorf("ListGroups names mismatch (-want +got):\n%s", diff)
	}
	if err := s.DeleteGroup(ctx, "g3"); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	_, err = s.GetGroupByName(ctx, "developers")
	wantErr(t, "GetGroupByName(deleted)", err, store.ErrNotFound)
	wantErr(t, "DeleteGroup(again)", s.DeleteGroup(ctx, "g3"), store.ErrNotFound)
}

func testGroupMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.CreateGroup(ctx, store.Group{ID: "g1", Name: "admins", CreatedAt: t0}); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	for _, u := range []string{"u2", "u1", "u3"} {
		if err := s.AddGroupMember(ctx, "g1", u, t0); err != nil {
			t.Fatalf("AddGroupMember(%s): %v", u, err)
		}
	}
	wantErr(t, "AddGroupMember(twice)", s.AddGroupMember(ctx, "g1", "u1", t0), store.ErrAlreadyExists)
	wantErr(t, "AddGroupMember(unknown group)", s.AddGroupMember(ctx, "nope", "u1", t0), store.ErrNotFound)
	if err := s.RemoveGroupMember(ctx, "g1", "u2"); err != nil {
		t.Fatalf("RemoveGroupMember: %v", err)
	}
	wantErr(t, "RemoveGroupMember(not a member)", s.RemoveGroupMember(ctx, "g1", "u2"), store.ErrNotFound)
	got, err := s.ListGroupMembers(ctx, "g1")
	if err != nil {
		t.Fatalf("ListGroupMembers: %v", err)
	}
	if diff := cmp.Diff([]string{"u1", "u3"}, got); diff != "" {
		t.Errorf("ListGroupMembers mismatch (-want +got):\n%s", diff)
	}
	if got, err := s.ListGroupMembers(ctx, "nope"); err != nil || len(got) != 0 {
		t.Errorf("ListGroupMembers(unknown) = %v, %v; want none", got, err)
	}
}

func testAssignments(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccounts(t, s, newAccount("111111111111", "a"), newAccount("222222222222", "b"))
	if err := s.CreateGroup(ctx, store.Group{ID: "g1", Name: "devs", CreatedAt: t0}); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	want := []store.Assignment{
		newAssignment("111111111111", "Admin", store.PrincipalUser, "u1", 12*time.Hour),
		newAssignment("111111111111", "ReadOnly", store.PrincipalGroup, "g1", time.Hour),
		newAssignment("111111111111", "ReadOnly", store.PrincipalUser, "u1", 2*time.Hour),
		newAssignment("222222222222", "ReadOnly", store.PrincipalUser, "u2", 90*time.Minute),
	}
	mustAssign(t, s, want[3], want[1], want[0], want[2])

	wantErr(t, "CreateAssignment(duplicate)", s.CreateAssignment(ctx,
		newAssignment("111111111111", "Admin", store.PrincipalUser, "u1", time.Hour)), store.ErrAlreadyExists)
	wantErr(t, "CreateAssignment(unknown account)", s.CreateAssignment(ctx,
		newAssignment("333333333333", "Admin", store.PrincipalUser, "u1", time.Hour)), store.ErrNotFound)
	wantErr(t, "CreateAssignment(unknown group)", s.CreateAssignment(ctx,
		newAssignment("111111111111", "Admin", store.PrincipalGroup, "nope", time.Hour)), store.ErrNotFound)

	for _, tc := range []struct {
		name   string
		filter store.AssignmentFilter
		want   []store.Assignment
	}{
		{"all", store.AssignmentFilter{}, want},
		{"account", store.AssignmentFilter{AccountID: "111111111111"}, want[:3]},
		{"user", store.AssignmentFilter{PrincipalType: store.PrincipalUser, PrincipalID: "u1"}, []store.Assignment{want[0], want[2]}},
		{"group", store.AssignmentFilter{PrincipalType: store.PrincipalGroup, PrincipalID: "g1"}, want[1:2]},
		{"account and user", store.AssignmentFilter{AccountID: "222222222222", PrincipalType: store.PrincipalUser, PrincipalID: "u1"}, nil},
	} {
		got, err := s.ListAssignments(ctx, tc.filter)
		if err != nil {
			t.Fatalf("ListAssignments(%s): %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got, equateEmpty); diff != "" {
			t.Errorf("ListAssignments(%s) mismatch (-want +got):\n%s", tc.name, diff)
		}
	}

	if err := s.DeleteAssignment(ctx, want[0]); err != nil {
		t.Fatalf("DeleteAssignment: %v", err)
	}
	wantErr(t, "DeleteAssignment(again)", s.DeleteAssignment(ctx, want[0]), store.ErrNotFound)
	// The key is the whole (account, role, principal): another principal's
	// assignment of the same role stays.
	got, err := s.ListAssignments(ctx, store.AssignmentFilter{AccountID: "111111111111"})
	if err != nil {
		t.Fatalf("ListAssignments: %v", err)
	}
	if diff := cmp.Diff(want[1:3], got); diff != "" {
		t.Errorf("ListAssignments after delete mismatch (-want +got):\n%s", diff)
	}
}

func testUserAccountsAndRoles(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccounts(t, s,
		newAccount("111111111111", "a"), newAccount("222222222222", "b"),
		newAccount("333333333333", "c"), newAccount("444444444444", "d"))
	for _, g := range []store.Group{{ID: "g1", Name: "devs", CreatedAt: t0}, {ID: "g2", Name: "ops", CreatedAt: t0}} {
		if err := s.CreateGroup(ctx, g); err != nil {
			t.Fatalf("CreateGroup: %v", err)
		}
	}
	if err := s.AddGroupMember(ctx, "g1", "alice", t0); err != nil {
		t.Fatalf("AddGroupMember: %v", err)
	}
	mustAssign(t, s,
		// alice directly, and through devs with a longer duration.
		newAssignment("111111111111", "ReadOnly", store.PrincipalUser, "alice", time.Hour),
		newAssignment("111111111111", "ReadOnly", store.PrincipalGroup, "g1", 4*time.Hour),
		newAssignment("111111111111", "Admin", store.PrincipalUser, "alice", 2*time.Hour),
		newAssignment("111111111111", "Billing", store.PrincipalUser, "bob", time.Hour),
		// through devs only
		newAssignment("333333333333", "Deploy", store.PrincipalGroup, "g1", time.Hour),
		// not alice's: bob's, and a group she is not in
		newAssignment("222222222222", "ReadOnly", store.PrincipalUser, "bob", time.Hour),
		newAssignment("444444444444", "ReadOnly", store.PrincipalGroup, "g2", time.Hour),
	)

	accountIDs := func(user, after string, limit int) []string {
		t.Helper()
		as, err := s.ListUserAccounts(ctx, user, after, limit)
		if err != nil {
			t.Fatalf("ListUserAccounts(%s, %q, %d): %v", user, after, limit, err)
		}
		var ids []string
		for _, a := range as {
			ids = append(ids, a.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		user, after string
		limit       int
		want        []string
	}{
		{"alice", "", 10, []string{"111111111111", "333333333333"}},
		{"alice", "", 1, []string{"111111111111"}},
		{"alice", "111111111111", 1, []string{"333333333333"}},
		{"alice", "333333333333", 10, nil},
		{"bob", "", 10, []string{"111111111111", "222222222222"}},
		{"carol", "", 10, nil},
	} {
		if diff := cmp.Diff(tc.want, accountIDs(tc.user, tc.after, tc.limit), equateEmpty); diff != "" {
			t.Errorf("ListUserAccounts(%s, %q, %d) mismatch (-want +got):\n%s", tc.user, tc.after, tc.limit, diff)
		}
	}
	as, err := s.ListUserAccounts(ctx, "alice", "", 1)
	if err != nil || len(as) != 1 || !cmp.Equal(as[0], newAccount("111111111111", "a")) {
		t.Errorf("ListUserAccounts record = %+v, %v; want the whole account", as, err)
	}

	roles, err := s.ListUserRoles(ctx, "alice", "111111111111", "", 10)
	if err != nil {
		t.Fatalf("ListUserRoles: %v", err)
	}
	wantRoles := []store.AccountRole{
		{AccountID: "111111111111", RoleName: "Admin", Duration: 2 * time.Hour},
		{AccountID: "111111111111", RoleName: "ReadOnly", Duration: 4 * time.Hour},
	}
	if diff := cmp.Diff(wantRoles, roles); diff != "" {
		t.Errorf("ListUserRoles mismatch (-want +got):\n%s", diff)
	}
	roles, err = s.ListUserRoles(ctx, "alice", "111111111111", "Admin", 1)
	if err != nil || !cmp.Equal(wantRoles[1:], roles) {
		t.Errorf("ListUserRoles(after Admin) = %+v, %v; want %+v", roles, err, wantRoles[1:])
	}
	if roles, err := s.ListUserRoles(ctx, "alice", "222222222222", "", 10); err != nil || len(roles) != 0 {
		t.Errorf("ListUserRoles(bob's account) = %+v, %v; want none", roles, err)
	}

	got, err := s.GetUserRole(ctx, "alice", "111111111111", "ReadOnly")
	if err != nil || got != wantRoles[1] {
		t.Errorf("GetUserRole(ReadOnly) = %+v, %v; want %+v", got, err, wantRoles[1])
	}
	got, err = s.GetUserRole(ctx, "alice", "333333333333", "Deploy")
	if want := (store.AccountRole{AccountID: "333333333333", RoleName: "Deploy", Duration: time.Hour}); err != nil || got != want {
		t.Errorf("GetUserRole(through group) = %+v, %v; want %+v", got, err, want)
	}
	for _, q := range [][2]string{{"111111111111", "Billing"}, {"222222222222", "ReadOnly"}, {"444444444444", "ReadOnly"}, {"111111111111", "readonly"}, {"999999999999", "ReadOnly"}} {
		_, err := s.GetUserRole(ctx, "alice", q[0], q[1])
		wantErr(t, fmt.Sprintf("GetUserRole(%s, %s)", q[0], q[1]), err, store.ErrNotFound)
	}

	for _, tc := range []struct {
		account, role string
		want          bool
	}{
		{"111111111111", "Billing", true},
		{"444444444444", "ReadOnly", true},
		{"111111111111", "Deploy", false},
		{"999999999999", "ReadOnly", false},
	} {
		if got, err := s.AccountHasRole(ctx, tc.account, tc.role); err != nil || got != tc.want {
			t.Errorf("AccountHasRole(%s, %s) = %v, %v; want %v", tc.account, tc.role, got, err, tc.want)
		}
	}

	// Leaving the group takes away what it gave.
	if err := s.RemoveGroupMember(ctx, "g1", "alice"); err != nil {
		t.Fatalf("RemoveGroupMember: %v", err)
	}
	if diff := cmp.Diff([]string{"111111111111"}, accountIDs("alice", "", 10)); diff != "" {
		t.Errorf("ListUserAccounts after leaving devs mismatch (-want +got):\n%s", diff)
	}
	got, err = s.GetUserRole(ctx, "alice", "111111111111", "ReadOnly")
	if want := (store.AccountRole{AccountID: "111111111111", RoleName: "ReadOnly", Duration: time.Hour}); err != nil || got != want {
		t.Errorf("GetUserRole after leaving devs = %+v, %v; want %+v", got, err, want)
	}
}

// testUserAccountsPagination pages through more accounts than fit a page,
// with assignments in an order unlike the ids'.
func testUserAccountsPagination(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 45
	var want []string
	for i := n - 1; i >= 0; i-- {
		id := fmt.Sprintf("%012d", 100000000000+i*7)
		mustCreateAccounts(t, s, newAccount(id, fmt.Sprintf("account %d", i)))
		mustAssign(t, s, newAssignment(id, "ReadOnly", store.PrincipalUser, "alice", time.Hour))
		if i%2 == 0 {
			mustAssign(t, s, newAssignment(id, "Admin", store.PrincipalUser, "alice", time.Hour))
		}
	}
	for i := range n {
		want = append(want, fmt.Sprintf("%012d", 100000000000+i*7))
	}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("pagination does not end")
		}
		page, err := s.ListUserAccounts(ctx, "alice", after, 10)
		if err != nil {
			t.Fatalf("ListUserAccounts: %v", err)
		}
		if len(page) > 10 {
			t.Fatalf("page of %d accounts, limit 10", len(page))
		}
		for _, a := range page {
			got = append(got, a.ID)
		}
		if len(page) < 10 {
			break
		}
		after = page[len(page)-1].ID
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged account ids mismatch (-want +got):\n%s", diff)
	}
}

func testPortalDeleteCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccounts(t, s, newAccount("111111111111", "a"), newAccount("222222222222", "b"))
	if err := s.CreateGroup(ctx, store.Group{ID: "g1", Name: "devs", CreatedAt: t0}); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	if err := s.AddGroupMember(ctx, "g1", "alice", t0); err != nil {
		t.Fatalf("AddGroupMember: %v", err)
	}
	mustAssign(t, s,
		newAssignment("111111111111", "ReadOnly", store.PrincipalGroup, "g1", time.Hour),
		newAssignment("111111111111", "Admin", store.PrincipalUser, "bob", time.Hour),
		newAssignment("222222222222", "ReadOnly", store.PrincipalGroup, "g1", time.Hour),
		newAssignment("222222222222", "Admin", store.PrincipalUser, "bob", time.Hour),
	)
	if err := s.PutStaticCredential(ctx, store.StaticCredential{AccountID: "111111111111", AccessKeyID: "AKIDEXAMPLE", Sealed: []byte{1}, CreatedAt: t0}); err != nil {
		t.Fatalf("PutStaticCredential: %v", err)
	}

	if err := s.DeleteAccount(ctx, "111111111111"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if as, err := s.ListAssignments(ctx, store.AssignmentFilter{AccountID: "111111111111"}); err != nil || len(as) != 0 {
		t.Errorf("assignments of a deleted account = %+v, %v; want none", as, err)
	}
	_, err := s.GetStaticCredential(ctx, "111111111111", "ReadOnly")
	wantErr(t, "GetStaticCredential(deleted account)", err, store.ErrNotFound)
	// Recreating the account does not bring anything back.
	mustCreateAccounts(t, s, newAccount("111111111111", "a"))
	if ok, err := s.AccountHasRole(ctx, "111111111111", "Admin"); err != nil || ok {
		t.Errorf("AccountHasRole(recreated account) = %v, %v; want false", ok, err)
	}

	if err := s.DeleteGroup(ctx, "g1"); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if as, err := s.ListAssignments(ctx, store.AssignmentFilter{PrincipalType: store.PrincipalGroup, PrincipalID: "g1"}); err != nil || len(as) != 0 {
		t.Errorf("assignments of a deleted group = %+v, %v; want none", as, err)
	}
	if as, err := s.ListUserAccounts(ctx, "alice", "", 10); err != nil || len(as) != 0 {
		t.Errorf("alice's accounts after her group was deleted = %+v, %v; want none", as, err)
	}
	// A group of the same id starts empty.
	if err := s.CreateGroup(ctx, store.Group{ID: "g1", Name: "devs", CreatedAt: t0}); err != nil {
		t.Fatalf("CreateGroup(again): %v", err)
	}
	if ms, err := s.ListGroupMembers(ctx, "g1"); err != nil || len(ms) != 0 {
		t.Errorf("members of a recreated group = %v, %v; want none", ms, err)
	}
	// Other principals' assignments stayed.
	if as, err := s.ListAssignments(ctx, store.AssignmentFilter{}); err != nil || len(as) != 1 || as[0].PrincipalID != "bob" || as[0].AccountID != "222222222222" {
		t.Errorf("remaining assignments = %+v, %v; want bob's Admin in 222222222222", as, err)
	}
}

func testStaticCredentials(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccounts(t, s, newAccount("111111111111", "a"))
	wantErr(t, "PutStaticCredential(unknown account)", s.PutStaticCredential(ctx,
		store.StaticCredential{AccountID: "999999999999", AccessKeyID: "AKID", Sealed: []byte{1}, CreatedAt: t0}), store.ErrNotFound)
	_, err := s.GetStaticCredential(ctx, "111111111111", "ReadOnly")
	wantErr(t, "GetStaticCredential(none)", err, store.ErrNotFound)

	all := store.StaticCredential{AccountID: "111111111111", AccessKeyID: "AKIDALL", Sealed: []byte{0, 1, 2, 255}, CreatedAt: at(time.Nanosecond)}
	admin := store.StaticCredential{AccountID: "111111111111", RoleName: "Admin", AccessKeyID: "AKIDADMIN", Sealed: []byte("sealed admin"), CreatedAt: t0}
	for _, c := range []store.StaticCredential{all, admin} {
		if err := s.PutStaticCredential(ctx, c); err != nil {
			t.Fatalf("PutStaticCredential(%q): %v", c.RoleName, err)
		}
	}
	all.CreatedAt = t0 // microseconds
	get := func(role string) store.StaticCredential {
		t.Helper()
		c, err := s.GetStaticCredential(ctx, "111111111111", role)
		if err != nil {
			t.Fatalf("GetStaticCredential(%q): %v", role, err)
		}
		return c
	}
	if diff := cmp.Diff(admin, get("Admin")); diff != "" {
		t.Errorf("GetStaticCredential(Admin) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all, get("ReadOnly")); diff != "" {
		t.Errorf("GetStaticCredential(ReadOnly: the account's) mismatch (-want +got):\n%s", diff)
	}

	replaced := admin
	replaced.AccessKeyID, replaced.Sealed, replaced.CreatedAt = "AKIDNEW", []byte("new"), at(time.Hour)
	if err := s.PutStaticCredential(ctx, replaced); err != nil {
		t.Fatalf("PutStaticCredential(replace): %v", err)
	}
	if diff := cmp.Diff(replaced, get("Admin")); diff != "" {
		t.Errorf("GetStaticCredential after replace mismatch (-want +got):\n%s", diff)
	}

	if err := s.DeleteStaticCredential(ctx, "111111111111", "Admin"); err != nil {
		t.Fatalf("DeleteStaticCredential: %v", err)
	}
	wantErr(t, "DeleteStaticCredential(again)", s.DeleteStaticCredential(ctx, "111111111111", "Admin"), store.ErrNotFound)
	if diff := cmp.Diff(all, get("Admin")); diff != "" {
		t.Errorf("GetStaticCredential(Admin) after delete: want the account's (-want +got):\n%s", diff)
	}
	if err := s.DeleteStaticCredential(ctx, "111111111111", ""); err != nil {
		t.Fatalf("DeleteStaticCredential(account): %v", err)
	}
	_, err = s.GetStaticCredential(ctx, "111111111111", "Admin")
	wantErr(t, "GetStaticCredential(all deleted)", err, store.ErrNotFound)
}

// testRaceAddGroupMember: concurrent adds of one member, exactly one wins.
func testRaceAddGroupMember(t *testing.T, s store.Store) {
	if err := s.CreateGroup(t.Context(), store.Group{ID: "g1", Name: "devs", CreatedAt: t0}); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	errs := race(racers, func(int) error { return s.AddGroupMember(t.Context(), "g1", "alice", t0) })
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		wantErr(t, "AddGroupMember(race)", err, store.ErrAlreadyExists)
	}
	if wins != 1 {
		t.Errorf("%d concurrent AddGroupMember calls succeeded, want 1", wins)
	}
}
