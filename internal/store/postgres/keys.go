package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ssooidc/ssooidc/internal/store"
)

const signingKeyCols = `id, algorithm, private_key, created_at, expires_at`

// AddSigningKey stores k unless a key created at or after since exists (a
// zero since always stores), retiring the keys not yet retired, in one
// transaction. READ COMMITTED cannot see a concurrent insert, so the
// transaction first locks the table against other writers of it (SHARE ROW
// EXCLUSIVE conflicts with itself, not with readers): replicas racing to
// create a key take turns, and each sees the others' keys. Keys are added
// once a month or at a first start, so the lock costs nothing.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey, since, retire time.Time) (bool, error) {
	var added bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		added = false
		if _, err := tx.Exec(ctx, `LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		if !since.IsZero() {
			var newer bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE created_at >= $1)`,
				since.UnixMicro()).Scan(&newer); err != nil {
				return err
			}
			if newer {
				return nil
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET expires_at = $1 WHERE expires_at IS NULL`,
			micros(retire)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyCols+`) VALUES ($1, $2, $3, $4, $5)`,
			k.ID, k.Algorithm, k.PrivateKey, micros(k.CreatedAt), micros(k.ExpiresAt)); err != nil {
			return err
		}
		added = true
		return nil
	})
	if err != nil {
		return false, wrap("add signing key", err)
	}
	return added, nil
}

// ListSigningKeys returns every key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	var out []store.SigningKey
	err := s.run(ctx, func(ctx context.Context) error {
		out = nil
		rows, err := s.pool.Query(ctx, `SELECT `+signingKeyCols+` FROM signing_keys ORDER BY created_at DESC, id DESC`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k store.SigningKey
			if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, timeCol{&k.CreatedAt}, timeCol{&k.ExpiresAt}); err != nil {
				return err
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	return out, nil
}
