package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

const (
	authCodeCols = `code_hash, client_id, user_id, redirect_uri, code_challenge, scopes, nonce,
		auth_time, created_at, expires_at, consumed_at, family_id`
	// familyCols and refreshCols are qualified: they are read joined.
	familyCols  = `f.id, f.client_id, f.user_id, f.scopes, f.auth_time, f.created_at, f.expires_at, f.revoked_at`
	refreshCols = `r.hash, r.family_id, r.created_at, r.expires_at, r.rotated_at`
)

func familyDest(f *store.TokenFamily) []any {
	return []any{&f.ID, &f.ClientID, &f.UserID, listCol{&f.Scopes}, timeCol{&f.AuthTime},
		timeCol{&f.CreatedAt}, timeCol{&f.ExpiresAt}, timeCol{&f.RevokedAt}}
}

func refreshDest(r *store.RefreshToken) []any {
	return []any{&r.Hash, &r.FamilyID, timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt}, timeCol{&r.RotatedAt}}
}

func insertFamily(ctx context.Context, db execer, f store.TokenFamily) error {
	_, err := db.ExecContext(ctx, `INSERT INTO token_families
		(id, client_id, user_id, scopes, auth_time, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.ClientID, f.UserID, list(f.Scopes), micros(f.AuthTime), micros(f.CreatedAt),
		micros(f.ExpiresAt), micros(f.RevokedAt))
	return err
}

// insertPair writes the access and refresh token of ts into familyID,
// whatever FamilyID the tokens carry: a pair always joins the family it
// was issued for.
//
// A pair is written whole or not at all even outside a savepoint: a
// refresh token that cannot be written (its hash taken) takes its access
// token with it.
func insertPair(ctx context.Context, tx *wtx, familyID string, ts store.TokenSet) error {
	if _, err := tx.exec(ctx, tx.stmts.insertAccess,
		ts.Access.Hash, familyID, micros(ts.Access.CreatedAt), micros(ts.Access.ExpiresAt)); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, tx.stmts.insertRefresh,
		ts.Refresh.Hash, familyID, micros(ts.Refresh.CreatedAt), micros(ts.Refresh.ExpiresAt),
		micros(ts.Refresh.RotatedAt)); err != nil {
		if _, undo := tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE hash = ?`, ts.Access.Hash); undo != nil {
			return fmt.Errorf("undo the access token: %w", undo) // not an answer: the transaction goes
		}
		return err
	}
	return nil
}

// revokeFamily marks a family revoked at now unless it already is: the
// first revocation time stands.
func revokeFamily(ctx context.Context, db execer, familyID string, now time.Time) (sql.Result, error) {
	return db.ExecContext(ctx, `UPDATE token_families SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`,
		now.UnixMicro(), familyID)
}

// Authorization codes.

// CreateAuthCode stores c; store.ErrAlreadyExists if its hash is taken.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO auth_codes (`+authCodeCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.CodeHash, c.ClientID, c.UserID, c.RedirectURI, c.CodeChallenge, list(c.Scopes), c.Nonce,
		micros(c.AuthTime), micros(c.CreatedAt), micros(c.ExpiresAt), micros(c.ConsumedAt), c.FamilyID)
	return wrap("create auth code", err)
}

// GetAuthCode returns the code with that hash, consumed or not.
func (s *Store) GetAuthCode(ctx context.Context, codeHash []byte) (store.AuthCode, error) {
	var c store.AuthCode
	err := s.reader.QueryRowContext(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE code_hash = ?`, codeHash).Scan(
		&c.CodeHash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.CodeChallenge, listCol{&c.Scopes}, &c.Nonce,
		timeCol{&c.AuthTime}, timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt}, timeCol{&c.ConsumedAt}, &c.FamilyID)
	if err != nil {
		return store.AuthCode{}, wrap("get auth code", err)
	}
	return c, nil
}

// ConsumeAuthCode marks the code consumed and writes tokens in one
// transaction; a second use revokes the family the first issued and returns
// store.ErrConsumed (RFC 6749 §4.1.2). Expiry is the caller's check.
func (s *Store) ConsumeAuthCode(ctx context.Context, codeHash []byte, now time.Time, tokens store.TokenSet) error {
	const op = "consume auth code"
	return s.write(ctx, true, func(ctx context.Context, tx *wtx) error {
		var consumedAt time.Time
		var familyID string
		if err := tx.queryRowSQL(ctx, `SELECT consumed_at, family_id FROM auth_codes WHERE code_hash = ?`,
			[]any{codeHash}, timeCol{&consumedAt}, &familyID); err != nil {
			return wrap(op, err)
		}
		if !consumedAt.IsZero() {
			if _, err := revokeFamily(ctx, tx, familyID, now); err != nil {
				return wrap(op, err)
			}
			// The revocation stands: it is committed with the batch.
			return keep(fmt.Errorf("sqlite: %s: %w", op, store.ErrConsumed))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE auth_codes SET consumed_at = ?, family_id = ? WHERE code_hash = ?`,
			now.UnixMicro(), tokens.Family.ID, codeHash); err != nil {
			return wrap(op, err)
		}
		if err := insertFamily(ctx, tx, tokens.Family); err != nil {
			return wrap(op, err)
		}
		return wrap(op, insertPair(ctx, tx, tokens.Family.ID, tokens))
	})
}

// Tokens.

// GetAccessToken returns the token and its family, in one query.
func (s *Store) GetAccessToken(ctx context.Context, hash []byte) (store.AccessToken, store.TokenFamily, error) {
	var a store.AccessToken
	var f store.TokenFamily
	dest := append([]any{&a.Hash, &a.FamilyID, timeCol{&a.CreatedAt}, timeCol{&a.ExpiresAt}}, familyDest(&f)...)
	if err := s.getAccess.QueryRowContext(ctx, hash).Scan(dest...); err != nil {
		return store.AccessToken{}, store.TokenFamily{}, wrap("get access token", err)
	}
	return a, f, nil
}

// GetRefreshToken returns the token and its family, in one query.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, store.TokenFamily, error) {
	var r store.RefreshToken
	var f store.TokenFamily
	if err := s.getRefresh.QueryRowContext(ctx, hash).Scan(append(refreshDest(&r), familyDest(&f)...)...); err != nil {
		return store.RefreshToken{}, store.TokenFamily{}, wrap("get refresh token", err)
	}
	return r, f, nil
}

// RotateRefreshToken exchanges oldHash for next's pair in one transaction
// (group-committed with concurrent rotations, each in its own savepoint);
// see store.Tokens for the outcomes. A token or family expires at its
// ExpiresAt. A grace of zero (or less) allows no reuse at all, even at the
// same instant.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, clientID string, now time.Time, grace time.Duration, mint func(store.TokenFamily) store.TokenSet) (store.TokenFamily, error) {
	const op = "rotate refresh token"
	now = utc(now) // compare at the precision the store keeps
	var fam store.TokenFamily
	// Not a savepoint's worth of statements: each step that can fail as an
	// answer comes before any write, or undoes its own (see below).
	err := s.write(ctx, false, func(ctx context.Context, tx *wtx) error {
		var old store.RefreshToken
		var userGone, userDisabled bool
		fam = store.TokenFamily{}
		err := tx.queryRow(ctx, tx.stmts.rotationLookup, []any{oldHash},
			append(append(refreshDest(&old), familyDest(&fam)...), &userGone, &userDisabled)...)
		switch {
		case errors.Is(err, sql.ErrNoRows) || err == nil && fam.ClientID != clientID:
			fam = store.TokenFamily{}
			return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
		case err != nil:
			fam = store.TokenFamily{}
			return wrap(op, err)
		case userGone || userDisabled:
			if fam.RevokedAt.IsZero() {
				if _, err := revokeFamily(ctx, tx, fam.ID, now); err != nil {
					return wrap(op, err)
				}
				fam.RevokedAt = now
			}
			refusal := store.ErrUserDisabled
			if userGone {
				refusal = store.ErrUserGone
			}
			// The revocation stands: it is committed with the batch.
			return keep(fmt.Errorf("sqlite: %s: %w", op, refusal))
		case !fam.RevokedAt.IsZero():
			return fmt.Errorf("sqlite: %s: %w", op, store.ErrRevoked)
		case expired(fam.ExpiresAt, now) || expired(old.ExpiresAt, now):
			return fmt.Errorf("sqlite: %s: %w", op, store.ErrExpired)
		}

		// A token rotated before is reused, unless within the grace (a
		// concurrent refresh from the same cached token gets another pair).
		rotated := !old.RotatedAt.IsZero()
		if rotated && (grace <= 0 || now.Sub(old.RotatedAt) > grace) {
			if _, err := revokeFamily(ctx, tx, fam.ID, now); err != nil {
				return wrap(op, err)
			}
			fam.RevokedAt = now
			// The revocation stands: it is committed with the batch.
			return keep(fmt.Errorf("sqlite: %s: %w", op, store.ErrReused))
		}
		// The pair first: one that cannot be written leaves nothing
		// behind (insertPair), so the old token is marked only once the
		// rotation can no longer fail but for the whole transaction.
		if err := insertPair(ctx, tx, fam.ID, mint(fam)); err != nil {
			return wrap(op, err)
		}
		if !rotated {
			if _, err := tx.exec(ctx, tx.stmts.markRotated, now.UnixMicro(), oldHash); err != nil {
				return wrap(op, err)
			}
		}
		return nil
	})
	switch {
	case err == nil, errors.Is(err, store.ErrRevoked), errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrReused),
		errors.Is(err, store.ErrUserDisabled), errors.Is(err, store.ErrUserGone):
		return fam, err
	}
	return store.TokenFamily{}, err
}

// RevokeTokenFamily marks the family revoked at now; revoking it again keeps
// the first time. store.ErrNotFound if there is no such family.
func (s *Store) RevokeTokenFamily(ctx context.Context, familyID string, now time.Time) error {
	res, err := revokeFamily(ctx, s.writer, familyID, now)
	if err != nil {
		return wrap("revoke token family", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("revoke token family", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: revoke token family: %w", store.ErrNotFound)
	}
	return nil
}

// RevokeUserTokens revokes every family of the user not yet revoked.
func (s *Store) RevokeUserTokens(ctx context.Context, userID string, now time.Time) error {
	_, err := s.writer.ExecContext(ctx, `UPDATE token_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`,
		now.UnixMicro(), userID)
	return wrap("revoke user tokens", err)
}
