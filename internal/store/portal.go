package store

import (
	"context"
	"time"
)

// Account is an AWS account people may be given roles in.
type Account struct {
	ID        string // 12 digits
	Name      string
	Email     string // may be empty
	CreatedAt time.Time
}

// Group is a named set of users: a role assigned to a group is assigned to
// each of its members.
type Group struct {
	ID        string
	Name      string // unique
	CreatedAt time.Time
}

// PrincipalType says whom an assignment names.
type PrincipalType string

// The principals a role can be assigned to.
const (
	PrincipalUser  PrincipalType = "user"
	PrincipalGroup PrincipalType = "group"
)

// Assignment grants a user or a group a role in an account. Its key is
// (AccountID, RoleName, PrincipalType, PrincipalID).
type Assignment struct {
	AccountID     string
	RoleName      string
	PrincipalType PrincipalType
	PrincipalID   string        // a user id or a group id
	Duration      time.Duration // session length of the credentials it yields
	CreatedAt     time.Time
}

// AssignmentFilter selects assignments; zero fields match everything.
type AssignmentFilter struct {
	AccountID     string
	PrincipalType PrincipalType
	PrincipalID   string
}

// AccountRole is a role a user holds in an account, through one or more
// assignments (direct, or through groups).
type AccountRole struct {
	AccountID string
	RoleName  string
	Duration  time.Duration // the longest of the assignments that grant it
}

// StaticCredential is a fixed AWS credential the static credential source
// hands out for a role of an account (RoleName "" for every role of the
// account). The secret parts arrive sealed: the store never sees them in
// clear.
type StaticCredential struct {
	AccountID   string
	RoleName    string
	AccessKeyID string
	Sealed      []byte
	CreatedAt   time.Time
}

// Portal stores accounts, groups and role assignments for the SSO portal
// API, and the static credentials of accounts served by emulators.
//
// Users are referred to by id without a foreign key: deleting a user leaves
// its memberships and assignments behind, where they grant nothing (user
// ids are never reused) until an administrator removes them. Accounts and
// groups own what refers to them: deleting one removes its memberships,
// assignments and static credentials in the same transaction.
//
// Account ids, group names and role names compare and sort in byte order.
type Portal interface {
	// CreateAccount returns ErrAlreadyExists when the id is taken.
	CreateAccount(ctx context.Context, a Account) error
	GetAccount(ctx context.Context, id string) (Account, error)
	// ListAccounts returns every account ordered by id.
	ListAccounts(ctx context.Context) ([]Account, error)
	// DeleteAccount removes the account, its assignments and its static
	// credentials; ErrNotFound if there is no such account.
	DeleteAccount(ctx context.Context, id string) error

	// CreateGroup returns ErrAlreadyExists when the id or name is taken.
	CreateGroup(ctx context.Context, g Group) error
	GetGroup(ctx context.Context, id string) (Group, error)
	GetGroupByName(ctx context.Context, name string) (Group, error)
	// ListGroups returns every group ordered by name.
	ListGroups(ctx context.Context) ([]Group, error)
	// DeleteGroup removes the group, its memberships and its assignments;
	// ErrNotFound if there is no such group.
	DeleteGroup(ctx context.Context, id string) error
	// AddGroupMember makes userID a member of the group: ErrNotFound if
	// there is no such group, ErrAlreadyExists if it is a member already.
	AddGroupMember(ctx context.Context, groupID, userID string, now time.Time) error
	// RemoveGroupMember returns ErrNotFound if userID is not a member.
	RemoveGroupMember(ctx context.Context, groupID, userID string) error
	// ListGroupMembers returns the user ids of the group's members in
	// order (none for an unknown group).
	ListGroupMembers(ctx context.Context, groupID string) ([]string, error)

	// CreateAssignment returns ErrNotFound when the account, or the group
	// a group assignment names, does not exist, and ErrAlreadyExists when
	// the assignment does.
	CreateAssignment(ctx context.Context, a Assignment) error
	// DeleteAssignment removes the assignment with a's key; ErrNotFound if
	// there is none.
	DeleteAssignment(ctx context.Context, a Assignment) error
	// ListAssignments returns the assignments f selects, ordered by
	// account, role, principal type and principal id.
	ListAssignments(ctx context.Context, f AssignmentFilter) ([]Assignment, error)

	// ListUserAccounts returns, ordered by id, at most limit (≥ 1)
	// accounts with an id after `after` in which the user holds a role,
	// directly or through a group.
	ListUserAccounts(ctx context.Context, userID, after string, limit int) ([]Account, error)
	// ListUserRoles returns, ordered by name, at most limit (≥ 1) roles
	// named after `after` that the user holds in the account.
	ListUserRoles(ctx context.Context, userID, accountID, after string, limit int) ([]AccountRole, error)
	// GetUserRole returns the role if the user holds it in the account;
	// ErrNotFound otherwise.
	GetUserRole(ctx context.Context, userID, accountID, roleName string) (AccountRole, error)
	// AccountHasRole reports whether any principal is assigned the role in
	// the account: such a role exists, whoever holds it.
	AccountHasRole(ctx context.Context, accountID, roleName string) (bool, error)

	// PutStaticCredential stores c, replacing the one with the same
	// account and role; ErrNotFound if the account does not exist.
	PutStaticCredential(ctx context.Context, c StaticCredential) error
	// GetStaticCredential returns the credential for the role of the
	// account, else the account's credential for every role (RoleName "");
	// ErrNotFound if neither exists.
	GetStaticCredential(ctx context.Context, accountID, roleName string) (StaticCredential, error)
	// DeleteStaticCredential removes the credential stored for exactly
	// (accountID, roleName); ErrNotFound if there is none.
	DeleteStaticCredential(ctx context.Context, accountID, roleName string) error
}
