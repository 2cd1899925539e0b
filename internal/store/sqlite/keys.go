package sqlite

import (
	"context"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

const signingKeyCols = `id, algorithm, private_key, created_at, expires_at`

// AddSigningKey stores k unless a key created at or after since exists (a
// zero since always stores), retiring the keys not yet retired, in one
// IMMEDIATE transaction on the single writer: across processes it is
// atomic too, since the transaction holds the database's write lock from
// its first statement.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey, since, retire time.Time) (bool, error) {
	const op = "add signing key"
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return false, wrap(op, err)
	}
	defer tx.Rollback() // after Commit, a no-op
	if !since.IsZero() {
		var newer int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM signing_keys WHERE created_at >= ?`,
			since.UnixMicro()).Scan(&newer); err != nil {
			return false, wrap(op, err)
		}
		if newer > 0 {
			return false, nil
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET expires_at = ? WHERE expires_at IS NULL`,
		micros(retire)); err != nil {
		return false, wrap(op, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyCols+`) VALUES (?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, k.PrivateKey, micros(k.CreatedAt), micros(k.ExpiresAt)); err != nil {
		return false, wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return false, wrap(op, err)
	}
	return true, nil
}

// ListSigningKeys returns every key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	const op = "list signing keys"
	rows, err := s.reader.QueryContext(ctx, `SELECT `+signingKeyCols+` FROM signing_keys
		ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, timeCol{&k.CreatedAt}, timeCol{&k.ExpiresAt}); err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, k)
	}
	return out, wrap(op, rows.Err())
}
