package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ssooidc/ssooidc/internal/store"
)

// Rate limits.

// rateHitSQL counts one hit in one statement (see store.RateRule). In the
// DO UPDATE clause every rate_limits.* reads the row as it was (a
// concurrent hit on the same key waits for the row lock, then reads the row
// this one left), so the macros below describe the old row: blocked (B),
// forgotten (E), a new window (N), the hits after this one (H), the strikes
// before it (S0), overflow (O), the window start after it (W). $1 key, $2
// now, $3 limit, $4 window, $5 max extra block, in microseconds.
var rateHitSQL = func() string {
	r := strings.NewReplacer(
		"{B}", `(rate_limits.blocked_until IS NOT NULL AND $2::bigint < rate_limits.blocked_until)`,
		"{N}", `({E} OR $2::bigint >= rate_limits.window_start + $4::bigint)`,
		"{H}", `(CASE WHEN {N} THEN 1 ELSE rate_limits.hits + 1 END)`,
		"{S0}", `(CASE WHEN {E} THEN 0 ELSE rate_limits.strikes END)`,
		"{O}", `(NOT {B} AND {H} > $3::integer)`,
		"{W}", `(CASE WHEN {N} THEN $2::bigint ELSE rate_limits.window_start END)`,
		"{BU}", `(CASE WHEN {O} THEN {W} + $4::bigint + LEAST($4::bigint * ((1::bigint << LEAST({S0}, 20)) - 1), $5::bigint)
			WHEN {E} THEN NULL ELSE rate_limits.blocked_until END)`,
	)
	q := `INSERT INTO rate_limits (key, window_start, hits, strikes, blocked_until, expires_at, verdict)
		VALUES ($1, $2::bigint, 1, 0, NULL, $2::bigint + 2 * $4::bigint, 0)
		ON CONFLICT (key) DO UPDATE SET
			hits = CASE WHEN {B} THEN rate_limits.hits ELSE {H} END,
			window_start = CASE WHEN {B} THEN rate_limits.window_start ELSE {W} END,
			strikes = CASE WHEN {B} THEN rate_limits.strikes WHEN {O} THEN {S0} + 1 ELSE {S0} END,
			blocked_until = CASE WHEN {B} THEN rate_limits.blocked_until ELSE {BU} END,
			expires_at = CASE WHEN {B} THEN rate_limits.expires_at
				ELSE GREATEST({W} + $4::bigint, coalesce({BU}, 0)) + $4::bigint END,
			verdict = CASE WHEN {B} THEN 2 WHEN {O} THEN 1 ELSE 0 END
		RETURNING verdict, hits, strikes, blocked_until`
	// Expand until no macro is left: macros refer to one another.
	for strings.Contains(q, "{") {
		q = r.Replace(q)
		q = strings.ReplaceAll(q, "{E}", `($2::bigint >= rate_limits.expires_at)`)
	}
	return q
}()

// HitRateLimit counts one hit on key at now under rule; see
// store.RateLimits. Like a poll, the hit commits without waiting for its
// WAL flush: a crash may forget the latest hits, nothing else.
func (s *Store) HitRateLimit(ctx context.Context, key []byte, now time.Time, rule store.RateRule) (store.RateHit, error) {
	if rule.Limit < 1 || rule.Window <= 0 {
		return store.RateHit{}, fmt.Errorf("postgres: hit rate limit: invalid rule %+v", rule)
	}
	var h store.RateHit
	var verdict int16
	err := s.run(ctx, func(ctx context.Context) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
		b.Queue(rateHitSQL, key, now.UnixMicro(), rule.Limit, rule.Window.Microseconds(),
			max(rule.MaxExtra, 0).Microseconds()).QueryRow(func(row pgx.Row) error {
			h = store.RateHit{}
			return row.Scan(&verdict, &h.Hits, &h.Strikes, timeCol{&h.BlockedUntil})
		})
		return s.pool.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return store.RateHit{}, wrap("hit rate limit", err)
	}
	h.Allowed, h.Overflow = verdict == 0, verdict == 1
	return h, nil
}

// UndoRateLimitHit takes one hit back.
func (s *Store) UndoRateLimitHit(ctx context.Context, key []byte) error {
	return wrap("undo rate limit hit", s.execRetry(ctx, `UPDATE rate_limits SET hits = hits - 1 WHERE key = $1 AND hits > 0`, key))
}

// ResetRateLimit forgets the counter.
func (s *Store) ResetRateLimit(ctx context.Context, key []byte) error {
	return wrap("reset rate limit", s.execRetry(ctx, `DELETE FROM rate_limits WHERE key = $1`, key))
}

// execRetry runs one statement with run's retries.
func (s *Store) execRetry(ctx context.Context, sql string, args ...any) error {
	return s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, sql, args...)
		return err
	})
}

// execRetryCount runs one statement with run's retries and returns the number
// of rows it affected.
func (s *Store) execRetryCount(ctx context.Context, sql string, args ...any) (int64, error) {
	var n int64
	err := s.run(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, sql, args...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// CountLiveDeviceGrants counts the client's pending, unexpired grants.
func (s *Store) CountLiveDeviceGrants(ctx context.Context, clientID string, now time.Time) (int, error) {
	var n int
	err := s.run(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT count(*) FROM device_grants
			WHERE client_id = $1 AND expires_at > $2 AND status = $3`,
			clientID, now.UnixMicro(), string(store.DevicePending)).Scan(&n)
	})
	if err != nil {
		return 0, wrap("count live device grants", err)
	}
	return n, nil
}

// User security.

const userSecurityCols = `user_id, failures, locked_at, mfa_required`

func scanUserSecurity(r pgx.Row) (store.UserSecurityState, error) {
	var u store.UserSecurityState
	err := r.Scan(&u.UserID, &u.Failures, timeCol{&u.LockedAt}, &u.MFARequired)
	return u, err
}

// GetUserSecurity returns the user's state, the zero state when none.
func (s *Store) GetUserSecurity(ctx context.Context, userID string) (store.UserSecurityState, error) {
	var u store.UserSecurityState
	err := s.run(ctx, func(ctx context.Context) (err error) {
		u, err = scanUserSecurity(s.pool.QueryRow(ctx, `SELECT `+userSecurityCols+` FROM user_security WHERE user_id = $1`, userID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.UserSecurityState{UserID: userID}, nil
	}
	if err != nil {
		return store.UserSecurityState{}, wrap("get user security", err)
	}
	return u, nil
}

// RecordSignInFailure adds one failure and locks at lockAfter.
func (s *Store) RecordSignInFailure(ctx context.Context, userID string, now time.Time, lockAfter int) (store.UserSecurityState, error) {
	var u store.UserSecurityState
	err := s.run(ctx, func(ctx context.Context) (err error) {
		u, err = scanUserSecurity(s.pool.QueryRow(ctx, `INSERT INTO user_security (user_id, failures, locked_at, mfa_required)
			VALUES ($1, 1, CASE WHEN $3::integer > 0 AND 1 >= $3::integer THEN $2::bigint END, false)
			ON CONFLICT (user_id) DO UPDATE SET
				failures = user_security.failures + 1,
				locked_at = CASE WHEN user_security.locked_at IS NOT NULL THEN user_security.locked_at
					WHEN $3::integer > 0 AND user_security.failures + 1 >= $3::integer THEN $2::bigint END
			RETURNING `+userSecurityCols, userID, now.UnixMicro(), lockAfter))
		return err
	})
	if err != nil {
		return store.UserSecurityState{}, wrap("record sign-in failure", err)
	}
	return u, nil
}

// ClearSignInFailures resets the failures and unlocks the account.
func (s *Store) ClearSignInFailures(ctx context.Context, userID string) error {
	return wrap("clear sign-in failures", s.execRetry(ctx,
		`UPDATE user_security SET failures = 0, locked_at = NULL WHERE user_id = $1`, userID))
}

// SetMFARequired sets the user's MFA requirement.
func (s *Store) SetMFARequired(ctx context.Context, userID string, required bool) error {
	return wrap("set mfa required", s.execRetry(ctx, `INSERT INTO user_security (user_id, mfa_required) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET mfa_required = excluded.mfa_required`, userID, required))
}

// MFA.

// PutTOTP stores an unconfirmed enrolment unless a confirmed one exists.
func (s *Store) PutTOTP(ctx context.Context, t store.TOTP) error {
	n, err := s.execRetryCount(ctx, `INSERT INTO mfa_totp (user_id, secret, created_at, confirmed_at, last_step)
		VALUES ($1, $2, $3, NULL, 0)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0
		WHERE mfa_totp.confirmed_at IS NULL`, t.UserID, t.Secret, micros(t.CreatedAt))
	if err != nil {
		return wrap("put totp", err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: put totp: confirmed enrolment: %w", store.ErrAlreadyExists)
	}
	return nil
}

// GetTOTP returns the user's enrolment.
func (s *Store) GetTOTP(ctx context.Context, userID string) (store.TOTP, error) {
	var t store.TOTP
	err := s.run(ctx, func(ctx context.Context) error {
		t = store.TOTP{}
		return s.pool.QueryRow(ctx, `SELECT user_id, secret, created_at, confirmed_at, last_step
			FROM mfa_totp WHERE user_id = $1`, userID).Scan(
			&t.UserID, &t.Secret, timeCol{&t.CreatedAt}, timeCol{&t.ConfirmedAt}, &t.LastStep)
	})
	if err != nil {
		return store.TOTP{}, wrap("get totp", err)
	}
	return t, nil
}

// ConfirmTOTP confirms the enrolment and replaces the recovery codes.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, secret []byte, step int64, recoveryHashes [][]byte, now time.Time) error {
	const op = "confirm totp"
	var found bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE mfa_totp SET confirmed_at = $1, last_step = $2
			WHERE user_id = $3 AND secret = $4 AND confirmed_at IS NULL`, now.UnixMicro(), step, userID, secret)
		if err != nil {
			return err
		}
		found = tag.RowsAffected() > 0
		if !found {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if len(recoveryHashes) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO mfa_recovery_codes (user_id, code_hash)
			SELECT $1, h FROM unnest($2::bytea[]) AS h ON CONFLICT DO NOTHING`, userID, recoveryHashes)
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

// UseTOTPStep records an accepted step if it is later than the last one.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	const op = "use totp step"
	n, err := s.execRetryCount(ctx, `UPDATE mfa_totp SET last_step = $1
		WHERE user_id = $2 AND confirmed_at IS NOT NULL AND last_step < $1`, step, userID)
	if err != nil {
		return wrap(op, err)
	}
	if n == 1 {
		return nil
	}
	t, err := s.GetTOTP(ctx, userID)
	if err != nil {
		return wrap(op, err)
	}
	if t.ConfirmedAt.IsZero() {
		return fmt.Errorf("postgres: %s: not confirmed: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("postgres: %s: %w", op, store.ErrConsumed)
}

// UseRecoveryCode removes one recovery code.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	n, err := s.execRetryCount(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = $1 AND code_hash = $2`, userID, hash)
	if err != nil {
		return wrap("use recovery code", err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: use recovery code: %w", store.ErrNotFound)
	}
	return nil
}

// CountRecoveryCodes counts the user's unused recovery codes.
func (s *Store) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.run(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1`, userID).Scan(&n)
	})
	if err != nil {
		return 0, wrap("count recovery codes", err)
	}
	return n, nil
}

// DeleteMFA removes the user's enrolment and recovery codes.
func (s *Store) DeleteMFA(ctx context.Context, userID string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM mfa_totp WHERE user_id = $1`, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = $1`, userID)
		return err
	})
	return wrap("delete mfa", err)
}

// Audit trail.

const auditCols = `time, type, user_id, client_id, detail, request_id, client_ip`

// AppendAuditEvents stores events in one transaction (one batch, one
// round trip). Text is stored as cleanText makes it.
func (s *Store) AppendAuditEvents(ctx context.Context, events []store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	err := s.run(ctx, func(ctx context.Context) error {
		b := &pgx.Batch{}
		for _, e := range events {
			b.Queue(`INSERT INTO audit_events (`+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				e.Time.UnixMicro(), cleanText(e.Type), cleanText(e.UserID), cleanText(e.ClientID),
				cleanText(e.Detail), cleanText(e.RequestID), cleanText(e.ClientIP))
		}
		return s.pool.SendBatch(ctx, b).Close()
	})
	return wrap("append audit events", err)
}

// ListAuditEvents returns the selected events in the order recorded.
func (s *Store) ListAuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	var limit any // NULL: no limit
	if q.Limit > 0 {
		limit = q.Limit
	}
	var since int64 = -1 << 62
	if !q.Since.IsZero() {
		since = q.Since.UnixMicro()
	}
	var out []store.AuditEvent
	err := s.run(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT id, `+auditCols+` FROM audit_events
			WHERE ($1 = '' OR user_id = $1) AND time >= $2 ORDER BY id DESC LIMIT $3`, q.UserID, since, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditEvent, error) {
			var e store.AuditEvent
			err := r.Scan(&e.ID, timeCol{&e.Time}, &e.Type, &e.UserID, &e.ClientID, &e.Detail, &e.RequestID, &e.ClientIP)
			return e, err
		})
		return err
	})
	if err != nil {
		return nil, wrap("list audit events", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	slices.Reverse(out)
	return out, nil
}

// DeleteExpiredSecurity removes due rate-limit counters and old audit
// events, at most limit of each, skipping rows another session holds.
func (s *Store) DeleteExpiredSecurity(ctx context.Context, now, auditBefore time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	total := 0
	del := func(table, col string, before int64) error {
		n, err := s.execRetryCount(ctx, `DELETE FROM `+table+` WHERE ctid = ANY(ARRAY(
			SELECT ctid FROM `+table+` WHERE `+col+` < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`, before, limit)
		if err != nil {
			return wrap("delete expired "+table, err)
		}
		total += int(n)
		return nil
	}
	if err := del("rate_limits", "expires_at", now.UnixMicro()); err != nil {
		return total, err
	}
	if !auditBefore.IsZero() {
		if err := del("audit_events", "time", auditBefore.UnixMicro()); err != nil {
			return total, err
		}
	}
	return total, nil
}
