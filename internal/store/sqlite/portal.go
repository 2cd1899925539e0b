package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

// The SSO portal: accounts, groups, assignments and static credentials
// (migrations/0003_portal.sql).

const (
	accountCols    = `id, name, email, created_at`
	groupCols      = `id, name, created_at`
	assignmentCols = `account_id, role_name, principal_type, principal_id, duration_us, created_at`

	// heldBy restricts role_assignments r to those that give the user (the
	// two arguments are the user id, twice) a role: directly or through
	// one of the user's groups.
	heldBy = `((r.principal_type = 'user' AND r.principal_id = ?) OR
		(r.principal_type = 'group' AND r.principal_id IN (SELECT group_id FROM group_members WHERE user_id = ?)))`
)

func scanAccount(r scanner) (store.Account, error) {
	var a store.Account
	err := r.Scan(&a.ID, &a.Name, &a.Email, timeCol{&a.CreatedAt})
	return a, err
}

func scanGroup(r scanner) (store.Group, error) {
	var g store.Group
	err := r.Scan(&g.ID, &g.Name, timeCol{&g.CreatedAt})
	return g, err
}

func scanAssignment(r scanner) (store.Assignment, error) {
	var a store.Assignment
	var ptype string
	err := r.Scan(&a.AccountID, &a.RoleName, &ptype, &a.PrincipalID, durationCol{&a.Duration}, timeCol{&a.CreatedAt})
	a.PrincipalType = store.PrincipalType(ptype)
	return a, err
}

func scanAccountRole(accountID string) func(scanner) (store.AccountRole, error) {
	return func(r scanner) (store.AccountRole, error) {
		ar := store.AccountRole{AccountID: accountID}
		err := r.Scan(&ar.RoleName, durationCol{&ar.Duration})
		return ar, err
	}
}

// queryAll runs a read and scans every row; no rows is a nil slice.
func queryAll[T any](ctx context.Context, db *sql.DB, op string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// execOne runs a write that must touch a row: none is store.ErrNotFound.
func execOne(ctx context.Context, db execer, op, query string, args ...any) error {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// Accounts.

// CreateAccount stores a; store.ErrAlreadyExists if its id is taken.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO aws_accounts (`+accountCols+`) VALUES (?, ?, ?, ?)`,
		a.ID, a.Name, a.Email, micros(a.CreatedAt))
	return wrap("create account", err)
}

// GetAccount returns the account with that id.
func (s *Store) GetAccount(ctx context.Context, id string) (store.Account, error) {
	a, err := scanAccount(s.reader.QueryRowContext(ctx, `SELECT `+accountCols+` FROM aws_accounts WHERE id = ?`, id))
	if err != nil {
		return store.Account{}, wrap("get account", err)
	}
	return a, nil
}

// ListAccounts returns every account ordered by id.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	return queryAll(ctx, s.reader, "list accounts", scanAccount, `SELECT `+accountCols+` FROM aws_accounts ORDER BY id`)
}

// DeleteAccount removes the account; its assignments and static
// credentials go with it (ON DELETE CASCADE).
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	return execOne(ctx, s.writer, "delete account", `DELETE FROM aws_accounts WHERE id = ?`, id)
}

// Groups.

// CreateGroup stores g; store.ErrAlreadyExists if its id or name is taken.
func (s *Store) CreateGroup(ctx context.Context, g store.Group) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO user_groups (`+groupCols+`) VALUES (?, ?, ?)`,
		g.ID, g.Name, micros(g.CreatedAt))
	return wrap("create group", err)
}

// GetGroup returns the group with that id.
func (s *Store) GetGroup(ctx context.Context, id string) (store.Group, error) {
	g, err := scanGroup(s.reader.QueryRowContext(ctx, `SELECT `+groupCols+` FROM user_groups WHERE id = ?`, id))
	if err != nil {
		return store.Group{}, wrap("get group", err)
	}
	return g, nil
}

// GetGroupByName returns the group with that name.
func (s *Store) GetGroupByName(ctx context.Context, name string) (store.Group, error) {
	g, err := scanGroup(s.reader.QueryRowContext(ctx, `SELECT `+groupCols+` FROM user_groups WHERE name = ?`, name))
	if err != nil {
		return store.Group{}, wrap("get group by name", err)
	}
	return g, nil
}

// ListGroups returns every group ordered by name.
func (s *Store) ListGroups(ctx context.Context) ([]store.Group, error) {
	return queryAll(ctx, s.reader, "list groups", scanGroup, `SELECT `+groupCols+` FROM user_groups ORDER BY name`)
}

// DeleteGroup removes the group's assignments and the group, whose
// memberships go with it (ON DELETE CASCADE), in one transaction.
func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	const op = "delete group"
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback() // after Commit, a no-op
	if _, err := tx.ExecContext(ctx, `DELETE FROM role_assignments WHERE principal_type = ? AND principal_id = ?`,
		string(store.PrincipalGroup), id); err != nil {
		return wrap(op, err)
	}
	if err := execOne(ctx, tx, op, `DELETE FROM user_groups WHERE id = ?`, id); err != nil {
		return err
	}
	return wrap(op, tx.Commit())
}

// AddGroupMember adds userID to the group, if the group exists.
func (s *Store) AddGroupMember(ctx context.Context, groupID, userID string, now time.Time) error {
	return execOne(ctx, s.writer, "add group member", `INSERT INTO group_members (group_id, user_id, created_at)
		SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM user_groups WHERE id = ?)`,
		groupID, userID, micros(now), groupID)
}

// RemoveGroupMember removes userID from the group.
func (s *Store) RemoveGroupMember(ctx context.Context, groupID, userID string) error {
	return execOne(ctx, s.writer, "remove group member", `DELETE FROM group_members WHERE group_id = ? AND user_id = ?`,
		groupID, userID)
}

// ListGroupMembers returns the member ids of the group, in order.
func (s *Store) ListGroupMembers(ctx context.Context, groupID string) ([]string, error) {
	return queryAll(ctx, s.reader, "list group members", func(r scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, `SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id`, groupID)
}

// Assignments.

// CreateAssignment stores a if its account (and, for a group assignment,
// its group) exists: one statement, so a concurrent deletion either comes
// first or removes the new row too.
func (s *Store) CreateAssignment(ctx context.Context, a store.Assignment) error {
	return execOne(ctx, s.writer, "create assignment", `INSERT INTO role_assignments (`+assignmentCols+`)
		SELECT ?, ?, ?, ?, ?, ?
		WHERE EXISTS (SELECT 1 FROM aws_accounts WHERE id = ?)
		AND (? <> 'group' OR EXISTS (SELECT 1 FROM user_groups WHERE id = ?))`,
		a.AccountID, a.RoleName, string(a.PrincipalType), a.PrincipalID, a.Duration.Microseconds(), micros(a.CreatedAt),
		a.AccountID, string(a.PrincipalType), a.PrincipalID)
}

// DeleteAssignment removes the assignment with a's key.
func (s *Store) DeleteAssignment(ctx context.Context, a store.Assignment) error {
	return execOne(ctx, s.writer, "delete assignment", `DELETE FROM role_assignments
		WHERE account_id = ? AND role_name = ? AND principal_type = ? AND principal_id = ?`,
		a.AccountID, a.RoleName, string(a.PrincipalType), a.PrincipalID)
}

// ListAssignments returns the assignments f selects, in key order.
func (s *Store) ListAssignments(ctx context.Context, f store.AssignmentFilter) ([]store.Assignment, error) {
	return queryAll(ctx, s.reader, "list assignments", scanAssignment, `SELECT `+assignmentCols+` FROM role_assignments
		WHERE (? = '' OR account_id = ?) AND (? = '' OR principal_type = ?) AND (? = '' OR principal_id = ?)
		ORDER BY account_id, role_name, principal_type, principal_id`,
		f.AccountID, f.AccountID, string(f.PrincipalType), string(f.PrincipalType), f.PrincipalID, f.PrincipalID)
}

// ListUserAccounts returns a page of the accounts the user holds a role
// in, by id.
func (s *Store) ListUserAccounts(ctx context.Context, userID, after string, limit int) ([]store.Account, error) {
	return queryAll(ctx, s.reader, "list user accounts", scanAccount, `SELECT `+accountCols+` FROM aws_accounts a
		WHERE a.id > ? AND EXISTS (SELECT 1 FROM role_assignments r WHERE r.account_id = a.id AND `+heldBy+`)
		ORDER BY a.id LIMIT ?`,
		after, userID, userID, limit)
}

// ListUserRoles returns a page of the roles the user holds in the account,
// by name.
func (s *Store) ListUserRoles(ctx context.Context, userID, accountID, after string, limit int) ([]store.AccountRole, error) {
	return queryAll(ctx, s.reader, "list user roles", scanAccountRole(accountID), `SELECT r.role_name, max(r.duration_us)
		FROM role_assignments r
		WHERE r.account_id = ? AND r.role_name > ? AND `+heldBy+`
		GROUP BY r.role_name ORDER BY r.role_name LIMIT ?`,
		accountID, after, userID, userID, limit)
}

// GetUserRole returns the role if the user holds it in the account.
func (s *Store) GetUserRole(ctx context.Context, userID, accountID, roleName string) (store.AccountRole, error) {
	ar, err := scanAccountRole(accountID)(s.reader.QueryRowContext(ctx, `SELECT r.role_name, max(r.duration_us)
		FROM role_assignments r
		WHERE r.account_id = ? AND r.role_name = ? AND `+heldBy+`
		GROUP BY r.role_name`,
		accountID, roleName, userID, userID))
	if err != nil {
		return store.AccountRole{}, wrap("get user role", err)
	}
	return ar, nil
}

// AccountHasRole reports whether anyone is assigned the role in the account.
func (s *Store) AccountHasRole(ctx context.Context, accountID, roleName string) (bool, error) {
	var ok bool
	err := s.reader.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM role_assignments WHERE account_id = ? AND role_name = ?)`,
		accountID, roleName).Scan(&ok)
	if err != nil {
		return false, wrap("account has role", err)
	}
	return ok, nil
}

// Static credentials.

// PutStaticCredential stores c over any credential with its key, if its
// account exists.
func (s *Store) PutStaticCredential(ctx context.Context, c store.StaticCredential) error {
	return execOne(ctx, s.writer, "put static credential", `INSERT INTO static_credentials
		(account_id, role_name, access_key_id, sealed, created_at)
		SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM aws_accounts WHERE id = ?)
		ON CONFLICT (account_id, role_name) DO UPDATE SET
			access_key_id = excluded.access_key_id, sealed = excluded.sealed, created_at = excluded.created_at`,
		c.AccountID, c.RoleName, c.AccessKeyID, c.Sealed, micros(c.CreatedAt), c.AccountID)
}

// GetStaticCredential returns the role's credential, else the account's.
func (s *Store) GetStaticCredential(ctx context.Context, accountID, roleName string) (store.StaticCredential, error) {
	var c store.StaticCredential
	// The role's own row sorts after the account-wide '' row.
	err := s.reader.QueryRowContext(ctx, `SELECT account_id, role_name, access_key_id, sealed, created_at
		FROM static_credentials WHERE account_id = ? AND role_name IN (?, '')
		ORDER BY role_name DESC LIMIT 1`, accountID, roleName).Scan(
		&c.AccountID, &c.RoleName, &c.AccessKeyID, &c.Sealed, timeCol{&c.CreatedAt})
	if err != nil {
		return store.StaticCredential{}, wrap("get static credential", err)
	}
	return c, nil
}

// DeleteStaticCredential removes the credential stored for exactly
// (accountID, roleName).
func (s *Store) DeleteStaticCredential(ctx context.Context, accountID, roleName string) error {
	return execOne(ctx, s.writer, "delete static credential", `DELETE FROM static_credentials WHERE account_id = ? AND role_name = ?`,
		accountID, roleName)
}
