package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ssooidc/ssooidc/internal/store"
)

const (
	userCols    = `id, name, email, display_name, password_hash, disabled, created_at, updated_at`
	sessionCols = `id_hash, user_id, auth_time, created_at, expires_at`
)

func scanUser(r pgx.Row) (store.User, error) {
	var u store.User
	err := r.Scan(&u.ID, &u.Name, &u.Email, &u.DisplayName, &u.PasswordHash, &u.Disabled,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	return u, err
}

// CreateUser stores u; store.ErrAlreadyExists if its id or name is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			u.ID, u.Name, u.Email, u.DisplayName, u.PasswordHash, u.Disabled, micros(u.CreatedAt), micros(u.UpdatedAt))
		return err
	})
	return wrap("create user", err)
}

// GetUser returns the user with that id.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	var u store.User
	err := s.run(ctx, func(ctx context.Context) (err error) {
		u, err = scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return store.User{}, wrap("get user", err)
	}
	return u, nil
}

// GetUserByName returns the user with that name (an exact, case-sensitive
// match: the directory normalises names before storing them).
func (s *Store) GetUserByName(ctx context.Context, name string) (store.User, error) {
	var u store.User
	err := s.run(ctx, func(ctx context.Context) (err error) {
		u, err = scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE name = $1`, name))
		return err
	})
	if err != nil {
		return store.User{}, wrap("get user by name", err)
	}
	return u, nil
}

// ListUsers returns every user ordered by name (byte order).
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	var users []store.User
	err := s.run(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY name COLLATE "C"`)
		if err != nil {
			return err
		}
		users, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) { return scanUser(r) })
		return err
	})
	if err != nil {
		return nil, wrap("list users", err)
	}
	if len(users) == 0 {
		return nil, nil
	}
	return users, nil
}

// UpdateUser replaces the mutable fields of the user u.ID; name and
// creation time stay. store.ErrNotFound if there is no such user.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	var n int64
	err := s.run(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `UPDATE users
			SET email = $1, display_name = $2, password_hash = $3, disabled = $4, updated_at = $5
			WHERE id = $6`,
			u.Email, u.DisplayName, u.PasswordHash, u.Disabled, micros(u.UpdatedAt), u.ID)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return wrap("update user", err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: update user: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteUser removes the user and its sessions and revokes its token
// families, in one transaction. store.ErrNotFound if there is no such user.
func (s *Store) DeleteUser(ctx context.Context, id string, now time.Time) error {
	const op = "delete user"
	var found bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return err
		}
		found = tag.RowsAffected() > 0
		if !found {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE token_families SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`,
			now.UnixMicro(), id)
		return err
	})
	if err != nil {
		return wrap(op, err)
	}
	if !found {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// Sessions.

// CreateSession stores se; store.ErrAlreadyExists if its hash is taken.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES ($1, $2, $3, $4, $5)`,
			se.IDHash, se.UserID, micros(se.AuthTime), micros(se.CreatedAt), micros(se.ExpiresAt))
		return err
	})
	return wrap("create session", err)
}

// GetSession returns the session with that hash, expired or not.
func (s *Store) GetSession(ctx context.Context, idHash []byte) (store.Session, error) {
	var se store.Session
	err := s.run(ctx, func(ctx context.Context) error {
		se = store.Session{}
		return s.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id_hash = $1`, idHash).Scan(
			&se.IDHash, &se.UserID, timeCol{&se.AuthTime}, timeCol{&se.CreatedAt}, timeCol{&se.ExpiresAt})
	})
	if err != nil {
		return store.Session{}, wrap("get session", err)
	}
	return se, nil
}

// DeleteSession removes the session; removing one that is gone is not an
// error (sign-out is idempotent).
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash)
		return err
	})
	return wrap("delete session", err)
}

// DeleteUserSessions removes every session of the user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
		return err
	})
	return wrap("delete user sessions", err)
}
