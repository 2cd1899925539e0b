package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ssooidc/ssooidc/internal/store"
)

const (
	authCodeCols = `code_hash, client_id, user_id, redirect_uri, code_challenge, scopes, nonce,
		auth_time, created_at, expires_at, consumed_at, family_id`
	familyCols  = `id, client_id, user_id, scopes, auth_time, created_at, expires_at, revoked_at`
	refreshCols = `hash, family_id, created_at, expires_at, rotated_at`
	// The same, qualified, for reading a token joined with its family.
	familyColsF  = `f.id, f.client_id, f.user_id, f.scopes, f.auth_time, f.created_at, f.expires_at, f.revoked_at`
	refreshColsR = `r.hash, r.family_id, r.created_at, r.expires_at, r.rotated_at`
)

func familyDest(f *store.TokenFamily) []any {
	return []any{&f.ID, &f.ClientID, &f.UserID, listCol{&f.Scopes}, timeCol{&f.AuthTime},
		timeCol{&f.CreatedAt}, timeCol{&f.ExpiresAt}, timeCol{&f.RevokedAt}}
}

func refreshDest(r *store.RefreshToken) []any {
	return []any{&r.Hash, &r.FamilyID, timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt}, timeCol{&r.RotatedAt}}
}

func insertFamily(ctx context.Context, tx pgx.Tx, f store.TokenFamily) error {
	_, err := tx.Exec(ctx, `INSERT INTO token_families (`+familyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		f.ID, f.ClientID, f.UserID, list(f.Scopes), micros(f.AuthTime), micros(f.CreatedAt),
		micros(f.ExpiresAt), micros(f.RevokedAt))
	return err
}

// insertPair writes the access and refresh token of ts into familyID,
// whatever FamilyID the tokens carry: a pair always joins the family it
// was issued for.
func insertPair(ctx context.Context, tx pgx.Tx, familyID string, ts store.TokenSet) error {
	if _, err := tx.Exec(ctx, `INSERT INTO access_tokens (hash, family_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4)`,
		ts.Access.Hash, familyID, micros(ts.Access.CreatedAt), micros(ts.Access.ExpiresAt)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (`+refreshCols+`) VALUES ($1, $2, $3, $4, $5)`,
		ts.Refresh.Hash, familyID, micros(ts.Refresh.CreatedAt), micros(ts.Refresh.ExpiresAt),
		micros(ts.Refresh.RotatedAt))
	return err
}

// revokeFamilySQL marks a family revoked at $1 unless it already is: the
// first revocation time stands. $2 is the family id.
const revokeFamilySQL = `UPDATE token_families SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`

// Authorization codes.

// CreateAuthCode stores c; store.ErrAlreadyExists if its hash is taken.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO auth_codes (`+authCodeCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			c.CodeHash, c.ClientID, c.UserID, c.RedirectURI, c.CodeChallenge, list(c.Scopes), c.Nonce,
			micros(c.AuthTime), micros(c.CreatedAt), micros(c.ExpiresAt), micros(c.ConsumedAt), c.FamilyID)
		return err
	})
	return wrap("create auth code", err)
}

// GetAuthCode returns the code with that hash, consumed or not.
func (s *Store) GetAuthCode(ctx context.Context, codeHash []byte) (store.AuthCode, error) {
	var c store.AuthCode
	err := s.run(ctx, func(ctx context.Context) error {
		c = store.AuthCode{}
		return s.pool.QueryRow(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE code_hash = $1`, codeHash).Scan(
			&c.CodeHash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.CodeChallenge, listCol{&c.Scopes}, &c.Nonce,
			timeCol{&c.AuthTime}, timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt}, timeCol{&c.ConsumedAt}, &c.FamilyID)
	})
	if err != nil {
		return store.AuthCode{}, wrap("get auth code", err)
	}
	return c, nil
}

// ConsumeAuthCode marks the code consumed and writes tokens in one
// transaction that holds the code's row lock from the start, so concurrent
// uses queue and each sees the one before; a second use revokes the family
// the first issued and returns store.ErrConsumed (RFC 6749 §4.1.2). Expiry
// is the caller's check.
func (s *Store) ConsumeAuthCode(ctx context.Context, codeHash []byte, now time.Time, tokens store.TokenSet) error {
	const op = "consume auth code"
	var consumed bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var consumedAt time.Time
		var familyID string
		if err := tx.QueryRow(ctx, `SELECT consumed_at, family_id FROM auth_codes WHERE code_hash = $1 FOR NO KEY UPDATE`,
			codeHash).Scan(timeCol{&consumedAt}, &familyID); err != nil {
			return err
		}
		consumed = !consumedAt.IsZero()
		if consumed {
			// Committed, then reported: the revocation must stand.
			_, err := tx.Exec(ctx, revokeFamilySQL, now.UnixMicro(), familyID)
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE auth_codes SET consumed_at = $1, family_id = $2 WHERE code_hash = $3`,
			now.UnixMicro(), tokens.Family.ID, codeHash); err != nil {
			return err
		}
		if err := insertFamily(ctx, tx, tokens.Family); err != nil {
			return err
		}
		return insertPair(ctx, tx, tokens.Family.ID, tokens)
	})
	if err != nil {
		return wrap(op, err)
	}
	if consumed {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrConsumed)
	}
	return nil
}

// Tokens.

// GetAccessToken returns the token and its family, in one query.
func (s *Store) GetAccessToken(ctx context.Context, hash []byte) (store.AccessToken, store.TokenFamily, error) {
	var a store.AccessToken
	var f store.TokenFamily
	err := s.run(ctx, func(ctx context.Context) error {
		a, f = store.AccessToken{}, store.TokenFamily{}
		dest := append([]any{&a.Hash, &a.FamilyID, timeCol{&a.CreatedAt}, timeCol{&a.ExpiresAt}}, familyDest(&f)...)
		return s.pool.QueryRow(ctx, `SELECT a.hash, a.family_id, a.created_at, a.expires_at, `+familyColsF+`
			FROM access_tokens a JOIN token_families f ON f.id = a.family_id WHERE a.hash = $1`, hash).Scan(dest...)
	})
	if err != nil {
		return store.AccessToken{}, store.TokenFamily{}, wrap("get access token", err)
	}
	return a, f, nil
}

// GetRefreshToken returns the token and its family, in one query.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, store.TokenFamily, error) {
	var r store.RefreshToken
	var f store.TokenFamily
	err := s.run(ctx, func(ctx context.Context) error {
		r, f = store.RefreshToken{}, store.TokenFamily{}
		return s.pool.QueryRow(ctx, `SELECT `+refreshColsR+`, `+familyColsF+`
			FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id WHERE r.hash = $1`, hash).
			Scan(append(refreshDest(&r), familyDest(&f)...)...)
	})
	if err != nil {
		return store.RefreshToken{}, store.TokenFamily{}, wrap("get refresh token", err)
	}
	return r, f, nil
}

// RotateRefreshToken exchanges oldHash for next's pair in one transaction;
// see store.Tokens for the outcomes. A token or family expires at its
// ExpiresAt. A grace of zero (or less) allows no reuse at all, even at the
// same instant.
//
// The transaction locks the family row first, then the token row (the order
// in which collecting a family deletes them, so the two cannot deadlock),
// and reads the token after taking its family's lock: every rotation of a
// family's tokens holds that lock, so the token read is current. Rotations
// in different families never wait for each other.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, clientID string, now time.Time, grace time.Duration, mint func(store.TokenFamily) store.TokenSet) (store.TokenFamily, error) {
	const op = "rotate refresh token"
	now = utc(now) // compare at the precision the store keeps
	var fam store.TokenFamily
	var outcome error // a refusal, decided inside the transaction
	err := s.tx(ctx, func(tx pgx.Tx) error {
		fam, outcome = store.TokenFamily{}, nil
		var userGone, userDisabled bool
		// The family id of a token never changes: reading it without a
		// lock is safe.
		err := tx.QueryRow(ctx, `SELECT `+familyColsF+`, u.id IS NULL, coalesce(u.disabled, false)
			FROM token_families f LEFT JOIN users u ON u.id = f.user_id
			WHERE f.id = (SELECT family_id FROM refresh_tokens WHERE hash = $1)
			FOR NO KEY UPDATE OF f`, oldHash).Scan(append(familyDest(&fam), &userGone, &userDisabled)...)
		if errors.Is(err, pgx.ErrNoRows) {
			outcome = store.ErrNotFound
			return nil
		}
		if err != nil {
			return err
		}
		var old store.RefreshToken
		err = tx.QueryRow(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = $1 FOR NO KEY UPDATE`,
			oldHash).Scan(refreshDest(&old)...)
		switch {
		case errors.Is(err, pgx.ErrNoRows) || err == nil && (fam.ClientID != clientID || old.FamilyID != fam.ID):
			// Gone meanwhile (its family was collected), or another client's.
			outcome = store.ErrNotFound
			return nil
		case err != nil:
			return err
		case userGone || userDisabled:
			if fam.RevokedAt.IsZero() {
				// Committed, then reported: the revocation must stand.
				if _, err := tx.Exec(ctx, revokeFamilySQL, now.UnixMicro(), fam.ID); err != nil {
					return err
				}
				fam.RevokedAt = now
			}
			outcome = store.ErrUserDisabled
			if userGone {
				outcome = store.ErrUserGone
			}
			return nil
		case !fam.RevokedAt.IsZero():
			outcome = store.ErrRevoked
			return nil
		case expired(fam.ExpiresAt, now) || expired(old.ExpiresAt, now):
			outcome = store.ErrExpired
			return nil
		}

		switch {
		case old.RotatedAt.IsZero():
			if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET rotated_at = $1 WHERE hash = $2`,
				now.UnixMicro(), oldHash); err != nil {
				return err
			}
		case grace > 0 && now.Sub(old.RotatedAt) <= grace:
			// A concurrent refresh from the same cached token: issue another pair.
		default:
			// Committed, then reported: the revocation must stand.
			if _, err := tx.Exec(ctx, revokeFamilySQL, now.UnixMicro(), fam.ID); err != nil {
				return err
			}
			fam.RevokedAt = now
			outcome = store.ErrReused
			return nil
		}
		return insertPair(ctx, tx, fam.ID, mint(fam))
	})
	switch {
	case err != nil:
		return store.TokenFamily{}, wrap(op, err)
	case errors.Is(outcome, store.ErrNotFound):
		return store.TokenFamily{}, fmt.Errorf("postgres: %s: %w", op, outcome)
	case outcome != nil:
		return fam, fmt.Errorf("postgres: %s: %w", op, outcome)
	}
	return fam, nil
}

// RevokeTokenFamily marks the family revoked at now; revoking it again keeps
// the first time. store.ErrNotFound if there is no such family.
func (s *Store) RevokeTokenFamily(ctx context.Context, familyID string, now time.Time) error {
	var n int64
	err := s.run(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, revokeFamilySQL, now.UnixMicro(), familyID)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return wrap("revoke token family", err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: revoke token family: %w", store.ErrNotFound)
	}
	return nil
}

// RevokeUserTokens revokes every family of the user not yet revoked.
func (s *Store) RevokeUserTokens(ctx context.Context, userID string, now time.Time) error {
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `UPDATE token_families SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`,
			now.UnixMicro(), userID)
		return err
	})
	return wrap("revoke user tokens", err)
}
