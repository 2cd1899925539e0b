package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ssooidc/ssooidc/internal/store"
)

// The SSO portal: accounts, groups, assignments and static credentials
// (migrations/0003_portal.sql).

const (
	accountCols    = `id, name, email, created_at`
	groupCols      = `id, name, created_at`
	assignmentCols = `account_id, role_name, principal_type, principal_id, duration_us, created_at`

	// heldBy restricts role_assignments r to those that give the user $1 a
	// role: directly or through one of the user's groups.
	heldBy = `((r.principal_type = 'user' AND r.principal_id = $1) OR
		(r.principal_type = 'group' AND r.principal_id IN (SELECT group_id FROM group_members WHERE user_id = $1)))`
)

func scanAccount(r pgx.Row) (store.Account, error) {
	var a store.Account
	err := r.Scan(&a.ID, &a.Name, &a.Email, timeCol{&a.CreatedAt})
	return a, err
}

func scanGroup(r pgx.Row) (store.Group, error) {
	var g store.Group
	err := r.Scan(&g.ID, &g.Name, timeCol{&g.CreatedAt})
	return g, err
}

func scanAssignment(r pgx.Row) (store.Assignment, error) {
	var a store.Assignment
	var ptype string
	err := r.Scan(&a.AccountID, &a.RoleName, &ptype, &a.PrincipalID, durationCol{&a.Duration}, timeCol{&a.CreatedAt})
	a.PrincipalType = store.PrincipalType(ptype)
	return a, err
}

func scanAccountRole(accountID string) func(pgx.Row) (store.AccountRole, error) {
	return func(r pgx.Row) (store.AccountRole, error) {
		ar := store.AccountRole{AccountID: accountID}
		err := r.Scan(&ar.RoleName, durationCol{&ar.Duration})
		return ar, err
	}
}

// queryAll runs a read and scans every row; no rows is a nil slice.
func queryAll[T any](ctx context.Context, s *Store, op string, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := s.run(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
		return err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// execOne runs a write that must touch a row: none is store.ErrNotFound,
// and so is a foreign key violation (the account or group went away
// between the statement's check and its insert).
func (s *Store) execOne(ctx context.Context, op, query string, args ...any) error {
	var n int64
	err := s.run(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, query, args...)
		n = tag.RowsAffected()
		return err
	})
	return oneRow(op, n, err)
}

func oneRow(op string, n int64, err error) error {
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "23503": // foreign_key_violation
		return fmt.Errorf("postgres: %s: %w (%w)", op, store.ErrNotFound, err)
	case err != nil:
		return wrap(op, err)
	case n == 0:
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

func queryOne[T any](ctx context.Context, s *Store, op string, scan func(pgx.Row) (T, error), query string, args ...any) (T, error) {
	var v T
	err := s.run(ctx, func(ctx context.Context) (err error) {
		v, err = scan(s.pool.QueryRow(ctx, query, args...))
		return err
	})
	if err != nil {
		var zero T
		return zero, wrap(op, err)
	}
	return v, nil
}

// Accounts.

// CreateAccount stores a; store.ErrAlreadyExists if its id is taken.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO aws_accounts (`+accountCols+`) VALUES ($1, $2, $3, $4)`,
			a.ID, a.Name, a.Email, micros(a.CreatedAt))
		return err
	})
	return wrap("create account", err)
}

// GetAccount returns the account with that id.
func (s *Store) GetAccount(ctx context.Context, id string) (store.Account, error) {
	return queryOne(ctx, s, "get account", scanAccount, `SELECT `+accountCols+` FROM aws_accounts WHERE id = $1`, id)
}

// ListAccounts returns every account ordered by id.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	return queryAll(ctx, s, "list accounts", scanAccount, `SELECT `+accountCols+` FROM aws_accounts ORDER BY id`)
}

// DeleteAccount removes the account; its assignments and static
// credentials go with it (ON DELETE CASCADE).
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete account", `DELETE FROM aws_accounts WHERE id = $1`, id)
}

// Groups.

// CreateGroup stores g; store.ErrAlreadyExists if its id or name is taken.
func (s *Store) CreateGroup(ctx context.Context, g store.Group) error {
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO user_groups (`+groupCols+`) VALUES ($1, $2, $3)`,
			g.ID, g.Name, micros(g.CreatedAt))
		return err
	})
	return wrap("create group", err)
}

// GetGroup returns the group with that id.
func (s *Store) GetGroup(ctx context.Context, id string) (store.Group, error) {
	return queryOne(ctx, s, "get group", scanGroup, `SELECT `+groupCols+` FROM user_groups WHERE id = $1`, id)
}

// GetGroupByName returns the group with that name.
func (s *Store) GetGroupByName(ctx context.Context, name string) (store.Group, error) {
	return queryOne(ctx, s, "get group by name", scanGroup, `SELECT `+groupCols+` FROM user_groups WHERE name = $1`, name)
}

// ListGroups returns every group ordered by name.
func (s *Store) ListGroups(ctx context.Context) ([]store.Group, error) {
	return queryAll(ctx, s, "list groups", scanGroup, `SELECT `+groupCols+` FROM user_groups ORDER BY name`)
}

// DeleteGroup removes the group's assignments and the group, whose
// memberships go with it (ON DELETE CASCADE), in one transaction.
func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM role_assignments WHERE principal_type = $1 AND principal_id = $2`,
			string(store.PrincipalGroup), id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM user_groups WHERE id = $1`, id)
		n = tag.RowsAffected()
		return err
	})
	return oneRow("delete group", n, err)
}

// AddGroupMember adds userID to the group, if the group exists.
func (s *Store) AddGroupMember(ctx context.Context, groupID, userID string, now time.Time) error {
	return s.execOne(ctx, "add group member", `INSERT INTO group_members (group_id, user_id, created_at)
		SELECT $1::text, $2::text, $3::bigint WHERE EXISTS (SELECT 1 FROM user_groups WHERE id = $1)`,
		groupID, userID, micros(now))
}

// RemoveGroupMember removes userID from the group.
func (s *Store) RemoveGroupMember(ctx context.Context, groupID, userID string) error {
	return s.execOne(ctx, "remove group member", `DELETE FROM group_members WHERE group_id = $1 AND user_id = $2`,
		groupID, userID)
}

// ListGroupMembers returns the member ids of the group, in order.
func (s *Store) ListGroupMembers(ctx context.Context, groupID string) ([]string, error) {
	return queryAll(ctx, s, "list group members", func(r pgx.Row) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, `SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id`, groupID)
}

// Assignments.

// CreateAssignment stores a if its account (and, for a group assignment,
// its group) exists. The foreign key to the account locks it against a
// concurrent deletion; a group deleted meanwhile leaves a row that grants
// nothing.
func (s *Store) CreateAssignment(ctx context.Context, a store.Assignment) error {
	return s.execOne(ctx, "create assignment", `INSERT INTO role_assignments (`+assignmentCols+`)
		SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $6::bigint
		WHERE EXISTS (SELECT 1 FROM aws_accounts WHERE id = $1)
		AND ($3 <> 'group' OR EXISTS (SELECT 1 FROM user_groups WHERE id = $4))`,
		a.AccountID, a.RoleName, string(a.PrincipalType), a.PrincipalID, a.Duration.Microseconds(), micros(a.CreatedAt))
}

// DeleteAssignment removes the assignment with a's key.
func (s *Store) DeleteAssignment(ctx context.Context, a store.Assignment) error {
	return s.execOne(ctx, "delete assignment", `DELETE FROM role_assignments
		WHERE account_id = $1 AND role_name = $2 AND principal_type = $3 AND principal_id = $4`,
		a.AccountID, a.RoleName, string(a.PrincipalType), a.PrincipalID)
}

// ListAssignments returns the assignments f selects, in key order.
func (s *Store) ListAssignments(ctx context.Context, f store.AssignmentFilter) ([]store.Assignment, error) {
	return queryAll(ctx, s, "list assignments", scanAssignment, `SELECT `+assignmentCols+` FROM role_assignments
		WHERE ($1::text = '' OR account_id = $1) AND ($2::text = '' OR principal_type = $2) AND ($3::text = '' OR principal_id = $3)
		ORDER BY account_id, role_name, principal_type, principal_id`,
		f.AccountID, string(f.PrincipalType), f.PrincipalID)
}

// ListUserAccounts returns a page of the accounts the user holds a role
// in, by id.
func (s *Store) ListUserAccounts(ctx context.Context, userID, after string, limit int) ([]store.Account, error) {
	return queryAll(ctx, s, "list user accounts", scanAccount, `SELECT `+accountCols+` FROM aws_accounts a
		WHERE a.id > $2 AND EXISTS (SELECT 1 FROM role_assignments r WHERE r.account_id = a.id AND `+heldBy+`)
		ORDER BY a.id LIMIT $3`,
		userID, after, limit)
}

// ListUserRoles returns a page of the roles the user holds in the account,
// by name.
func (s *Store) ListUserRoles(ctx context.Context, userID, accountID, after string, limit int) ([]store.AccountRole, error) {
	return queryAll(ctx, s, "list user roles", scanAccountRole(accountID), `SELECT r.role_name, max(r.duration_us)
		FROM role_assignments r
		WHERE r.account_id = $2 AND r.role_name > $3 AND `+heldBy+`
		GROUP BY r.role_name ORDER BY r.role_name LIMIT $4`,
		userID, accountID, after, limit)
}

// GetUserRole returns the role if the user holds it in the account.
func (s *Store) GetUserRole(ctx context.Context, userID, accountID, roleName string) (store.AccountRole, error) {
	return queryOne(ctx, s, "get user role", scanAccountRole(accountID), `SELECT r.role_name, max(r.duration_us)
		FROM role_assignments r
		WHERE r.account_id = $2 AND r.role_name = $3 AND `+heldBy+`
		GROUP BY r.role_name`,
		userID, accountID, roleName)
}

// AccountHasRole reports whether anyone is assigned the role in the account.
func (s *Store) AccountHasRole(ctx context.Context, accountID, roleName string) (bool, error) {
	return queryOne(ctx, s, "account has role", func(r pgx.Row) (bool, error) {
		var ok bool
		return ok, r.Scan(&ok)
	}, `SELECT EXISTS (SELECT 1 FROM role_assignments WHERE account_id = $1 AND role_name = $2)`, accountID, roleName)
}

// Static credentials.

// PutStaticCredential stores c over any credential with its key, if its
// account exists.
func (s *Store) PutStaticCredential(ctx context.Context, c store.StaticCredential) error {
	return s.execOne(ctx, "put static credential", `INSERT INTO static_credentials
		(account_id, role_name, access_key_id, sealed, created_at)
		SELECT $1::text, $2::text, $3::text, $4::bytea, $5::bigint WHERE EXISTS (SELECT 1 FROM aws_accounts WHERE id = $1)
		ON CONFLICT (account_id, role_name) DO UPDATE SET
			access_key_id = excluded.access_key_id, sealed = excluded.sealed, created_at = excluded.created_at`,
		c.AccountID, c.RoleName, c.AccessKeyID, c.Sealed, micros(c.CreatedAt))
}

// GetStaticCredential returns the role's credential, else the account's.
func (s *Store) GetStaticCredential(ctx context.Context, accountID, roleName string) (store.StaticCredential, error) {
	// The role's own row sorts after the account-wide '' row.
	return queryOne(ctx, s, "get static credential", func(r pgx.Row) (store.StaticCredential, error) {
		var c store.StaticCredential
		err := r.Scan(&c.AccountID, &c.RoleName, &c.AccessKeyID, &c.Sealed, timeCol{&c.CreatedAt})
		return c, err
	}, `SELECT account_id, role_name, access_key_id, sealed, created_at
		FROM static_credentials WHERE account_id = $1 AND role_name IN ($2, '')
		ORDER BY role_name DESC LIMIT 1`, accountID, roleName)
}

// DeleteStaticCredential removes the credential stored for exactly
// (accountID, roleName).
func (s *Store) DeleteStaticCredential(ctx context.Context, accountID, roleName string) error {
	return s.execOne(ctx, "delete static credential", `DELETE FROM static_credentials WHERE account_id = $1 AND role_name = $2`,
		accountID, roleName)
}
