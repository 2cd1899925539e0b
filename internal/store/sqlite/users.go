package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

const (
	userCols    = `id, name, email, display_name, password_hash, disabled, created_at, updated_at`
	sessionCols = `id_hash, user_id, auth_time, created_at, expires_at`
)

func scanUser(r scanner) (store.User, error) {
	var u store.User
	err := r.Scan(&u.ID, &u.Name, &u.Email, &u.DisplayName, &u.PasswordHash, &u.Disabled,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	return u, err
}

// CreateUser stores u; store.ErrAlreadyExists if its id or name is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, u.Email, u.DisplayName, u.PasswordHash, u.Disabled, micros(u.CreatedAt), micros(u.UpdatedAt))
	return wrap("create user", err)
}

// GetUser returns the user with that id.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.getUser.QueryRowContext(ctx, id))
	if err != nil {
		return store.User{}, wrap("get user", err)
	}
	return u, nil
}

// GetUserByName returns the user with that name (an exact, case-sensitive
// match: the directory normalises names before storing them).
func (s *Store) GetUserByName(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.reader.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
	if err != nil {
		return store.User{}, wrap("get user by name", err)
	}
	return u, nil
}

// ListUsers returns every user ordered by name (byte order).
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, wrap("list users", err)
	}
	defer rows.Close()
	var users []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("list users", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list users", err)
	}
	return users, nil
}

// UpdateUser replaces the mutable fields of the user u.ID; name and
// creation time stay. store.ErrNotFound if there is no such user.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	res, err := s.writer.ExecContext(ctx, `UPDATE users
		SET email = ?, display_name = ?, password_hash = ?, disabled = ?, updated_at = ?
		WHERE id = ?`,
		u.Email, u.DisplayName, u.PasswordHash, u.Disabled, micros(u.UpdatedAt), u.ID)
	if err != nil {
		return wrap("update user", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("update user", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: update user: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteUser removes the user and its sessions and revokes its token
// families, in one transaction. store.ErrNotFound if there is no such user.
func (s *Store) DeleteUser(ctx context.Context, id string, now time.Time) error {
	const op = "delete user"
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback() // after Commit, a no-op
	res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return wrap(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap(op, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
		return wrap(op, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE token_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`,
		now.UnixMicro(), id); err != nil {
		return wrap(op, err)
	}
	return wrap(op, tx.Commit())
}

// Sessions.

// CreateSession stores se; store.ErrAlreadyExists if its hash is taken.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?)`,
		se.IDHash, se.UserID, micros(se.AuthTime), micros(se.CreatedAt), micros(se.ExpiresAt))
	return wrap("create session", err)
}

// GetSession returns the session with that hash, expired or not.
func (s *Store) GetSession(ctx context.Context, idHash []byte) (store.Session, error) {
	var se store.Session
	err := s.reader.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id_hash = ?`, idHash).Scan(
		&se.IDHash, &se.UserID, timeCol{&se.AuthTime}, timeCol{&se.CreatedAt}, timeCol{&se.ExpiresAt})
	if err != nil {
		return store.Session{}, wrap("get session", err)
	}
	return se, nil
}

// DeleteSession removes the session; removing one that is gone is not an
// error (sign-out is idempotent).
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := s.writer.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	return wrap("delete session", err)
}

// DeleteUserSessions removes every session of the user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := s.writer.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	return wrap("delete user sessions", err)
}
