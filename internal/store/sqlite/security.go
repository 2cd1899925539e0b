package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

// Rate limits.

// rateHitSQL counts one hit in one statement (see store.RateRule). In the
// DO UPDATE clause every rate_limits.* reads the row as it was, so the
// macros below describe the old row: blocked (B), forgotten (E), a new
// window (N), the hits after this one (H), the strikes before it (S0),
// overflow (O), the window start after it (W). ?1 key, ?2 now, ?3 limit,
// ?4 window, ?5 max extra block, all in microseconds.
var rateHitSQL = func() string {
	r := strings.NewReplacer(
		"{B}", `(rate_limits.blocked_until IS NOT NULL AND ?2 < rate_limits.blocked_until)`,
		"{N}", `({E} OR ?2 >= rate_limits.window_start + ?4)`,
		"{H}", `(CASE WHEN {N} THEN 1 ELSE rate_limits.hits + 1 END)`,
		"{S0}", `(CASE WHEN {E} THEN 0 ELSE rate_limits.strikes END)`,
		"{O}", `(NOT {B} AND {H} > ?3)`,
		"{W}", `(CASE WHEN {N} THEN ?2 ELSE rate_limits.window_start END)`,
		"{BU}", `(CASE WHEN {O} THEN {W} + ?4 + min(?4 * ((1 << min({S0}, 20)) - 1), ?5)
			WHEN {E} THEN NULL ELSE rate_limits.blocked_until END)`,
	)
	q := `INSERT INTO rate_limits (key, window_start, hits, strikes, blocked_until, expires_at, verdict)
		VALUES (?1, ?2, 1, 0, NULL, ?2 + 2 * ?4, 0)
		ON CONFLICT (key) DO UPDATE SET
			hits = CASE WHEN {B} THEN rate_limits.hits ELSE {H} END,
			window_start = CASE WHEN {B} THEN rate_limits.window_start ELSE {W} END,
			strikes = CASE WHEN {B} THEN rate_limits.strikes WHEN {O} THEN {S0} + 1 ELSE {S0} END,
			blocked_until = CASE WHEN {B} THEN rate_limits.blocked_until ELSE {BU} END,
			expires_at = CASE WHEN {B} THEN rate_limits.expires_at
				ELSE max({W} + ?4, coalesce({BU}, 0)) + ?4 END,
			verdict = CASE WHEN {B} THEN 2 WHEN {O} THEN 1 ELSE 0 END
		RETURNING verdict, hits, strikes, blocked_until`
	// Expand until no macro is left: macros refer to one another.
	for strings.Contains(q, "{") {
		q = r.Replace(q)
		q = strings.ReplaceAll(q, "{E}", `(?2 >= rate_limits.expires_at)`)
	}
	return q
}()

// HitRateLimit counts one hit on key at now under rule; see store.RateLimits.
func (s *Store) HitRateLimit(ctx context.Context, key []byte, now time.Time, rule store.RateRule) (store.RateHit, error) {
	if rule.Limit < 1 || rule.Window <= 0 {
		return store.RateHit{}, fmt.Errorf("sqlite: hit rate limit: invalid rule %+v", rule)
	}
	var h store.RateHit
	var verdict int
	err := s.writer.QueryRowContext(ctx, rateHitSQL, key, now.UnixMicro(), rule.Limit,
		rule.Window.Microseconds(), max(rule.MaxExtra, 0).Microseconds()).Scan(
		&verdict, &h.Hits, &h.Strikes, timeCol{&h.BlockedUntil})
	if err != nil {
		return store.RateHit{}, wrap("hit rate limit", err)
	}
	h.Allowed, h.Overflow = verdict == 0, verdict == 1
	return h, nil
}

// UndoRateLimitHit takes one hit back.
func (s *Store) UndoRateLimitHit(ctx context.Context, key []byte) error {
	_, err := s.writer.ExecContext(ctx, `UPDATE rate_limits SET hits = hits - 1 WHERE key = ? AND hits > 0`, key)
	return wrap("undo rate limit hit", err)
}

// ResetRateLimit forgets the counter.
func (s *Store) ResetRateLimit(ctx context.Context, key []byte) error {
	_, err := s.writer.ExecContext(ctx, `DELETE FROM rate_limits WHERE key = ?`, key)
	return wrap("reset rate limit", err)
}

// CountLiveDeviceGrants counts the client's pending, unexpired grants; see
// liveGrantCount.
func (s *Store) CountLiveDeviceGrants(ctx context.Context, clientID string, now time.Time) (int, error) {
	n, err := s.live.count(ctx, s, clientID, now)
	return n, wrap("count live device grants", err)
}

// User security.

const userSecurityCols = `user_id, failures, locked_at, mfa_required`

func scanUserSecurity(r scanner) (store.UserSecurityState, error) {
	var u store.UserSecurityState
	err := r.Scan(&u.UserID, &u.Failures, timeCol{&u.LockedAt}, &u.MFARequired)
	return u, err
}

// GetUserSecurity returns the user's state, the zero state when none.
func (s *Store) GetUserSecurity(ctx context.Context, userID string) (store.UserSecurityState, error) {
	u, err := scanUserSecurity(s.reader.QueryRowContext(ctx,
		`SELECT `+userSecurityCols+` FROM user_security WHERE user_id = ?`, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.UserSecurityState{UserID: userID}, nil
	}
	if err != nil {
		return store.UserSecurityState{}, wrap("get user security", err)
	}
	return u, nil
}

// RecordSignInFailure adds one failure and locks at lockAfter.
func (s *Store) RecordSignInFailure(ctx context.Context, userID string, now time.Time, lockAfter int) (store.UserSecurityState, error) {
	u, err := scanUserSecurity(s.writer.QueryRowContext(ctx, `INSERT INTO user_security (user_id, failures, locked_at, mfa_required)
		VALUES (?1, 1, CASE WHEN ?3 > 0 AND 1 >= ?3 THEN ?2 END, 0)
		ON CONFLICT (user_id) DO UPDATE SET
			failures = user_security.failures + 1,
			locked_at = CASE WHEN user_security.locked_at IS NOT NULL THEN user_security.locked_at
				WHEN ?3 > 0 AND user_security.failures + 1 >= ?3 THEN ?2 END
		RETURNING `+userSecurityCols, userID, now.UnixMicro(), lockAfter))
	if err != nil {
		return store.UserSecurityState{}, wrap("record sign-in failure", err)
	}
	return u, nil
}

// ClearSignInFailures resets the failures and unlocks the account.
func (s *Store) ClearSignInFailures(ctx context.Context, userID string) error {
	_, err := s.writer.ExecContext(ctx, `UPDATE user_security SET failures = 0, locked_at = NULL WHERE user_id = ?`, userID)
	return wrap("clear sign-in failures", err)
}

// SetMFARequired sets the user's MFA requirement.
func (s *Store) SetMFARequired(ctx context.Context, userID string, required bool) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO user_security (user_id, mfa_required) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET mfa_required = excluded.mfa_required`, userID, required)
	return wrap("set mfa required", err)
}

// MFA.

// PutTOTP stores an unconfirmed enrolment unless a confirmed one exists.
func (s *Store) PutTOTP(ctx context.Context, t store.TOTP) error {
	res, err := s.writer.ExecContext(ctx, `INSERT INTO mfa_totp (user_id, secret, created_at, confirmed_at, last_step)
		VALUES (?, ?, ?, NULL, 0)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0
		WHERE mfa_totp.confirmed_at IS NULL`, t.UserID, t.Secret, micros(t.CreatedAt))
	if err != nil {
		return wrap("put totp", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("put totp", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: put totp: confirmed enrolment: %w", store.ErrAlreadyExists)
	}
	return nil
}

// GetTOTP returns the user's enrolment.
func (s *Store) GetTOTP(ctx context.Context, userID string) (store.TOTP, error) {
	var t store.TOTP
	err := s.reader.QueryRowContext(ctx, `SELECT user_id, secret, created_at, confirmed_at, last_step
		FROM mfa_totp WHERE user_id = ?`, userID).Scan(
		&t.UserID, &t.Secret, timeCol{&t.CreatedAt}, timeCol{&t.ConfirmedAt}, &t.LastStep)
	if err != nil {
		return store.TOTP{}, wrap("get totp", err)
	}
	return t, nil
}

// ConfirmTOTP confirms the enrolment and replaces the recovery codes.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, secret []byte, step int64, recoveryHashes [][]byte, now time.Time) error {
	const op = "confirm totp"
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE mfa_totp SET confirmed_at = ?, last_step = ?
		WHERE user_id = ? AND secret = ? AND confirmed_at IS NULL`, now.UnixMicro(), step, userID, secret)
	if err != nil {
		return wrap(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap(op, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	if err := replaceRecoveryCodes(ctx, tx, userID, recoveryHashes); err != nil {
		return wrap(op, err)
	}
	return wrap(op, tx.Commit())
}

func replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, userID string, hashes [][]byte) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)
			ON CONFLICT DO NOTHING`, userID, h); err != nil {
			return err
		}
	}
	return nil
}

// UseTOTPStep records an accepted step if it is later than the last one.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	const op = "use totp step"
	res, err := s.writer.ExecContext(ctx, `UPDATE mfa_totp SET last_step = ?
		WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?`, step, userID, step)
	if err != nil {
		return wrap(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap(op, err)
	} else if n == 1 {
		return nil
	}
	t, err := s.GetTOTP(ctx, userID)
	if err != nil {
		return wrap(op, err)
	}
	if t.ConfirmedAt.IsZero() {
		return fmt.Errorf("sqlite: %s: not confirmed: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", op, store.ErrConsumed)
}

// UseRecoveryCode removes one recovery code.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = ? AND code_hash = ?`, userID, hash)
	if err != nil {
		return wrap("use recovery code", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("use recovery code", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: use recovery code: %w", store.ErrNotFound)
	}
	return nil
}

// CountRecoveryCodes counts the user's unused recovery codes.
func (s *Store) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return 0, wrap("count recovery codes", err)
	}
	return n, nil
}

// DeleteMFA removes the user's enrolment and recovery codes.
func (s *Store) DeleteMFA(ctx context.Context, userID string) error {
	const op = "delete mfa"
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM mfa_totp WHERE user_id = ?`, userID); err != nil {
		return wrap(op, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = ?`, userID); err != nil {
		return wrap(op, err)
	}
	return wrap(op, tx.Commit())
}

// Audit trail.

const auditCols = `time, type, user_id, client_id, detail, request_id, client_ip`

// auditRowsPerInsert is how many events one INSERT statement carries: a
// statement per event cost more than the B-tree work of its row.
const auditRowsPerInsert = 64

// auditInsert is the statement that inserts rows events.
func auditInsert(rows int) string {
	return `INSERT INTO audit_events (` + auditCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)` +
		strings.Repeat(`, (?, ?, ?, ?, ?, ?, ?)`, rows-1)
}

// AppendAuditEvents stores events in one transaction, in order. They go
// through the group commit: they share a commit with the writes waiting
// beside them, and no commit ever runs beside a checkpoint that must
// bring the WAL back to its start (checkpoint.go).
func (s *Store) AppendAuditEvents(ctx context.Context, events []store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return wrap("append audit events", s.write(ctx, true, func(ctx context.Context, tx *wtx) error {
		args := make([]any, 0, 7*min(len(events), auditRowsPerInsert))
		for rest := events; len(rest) > 0; {
			chunk := rest[:min(len(rest), auditRowsPerInsert)]
			rest = rest[len(chunk):]
			args = args[:0]
			for _, e := range chunk {
				args = append(args, e.Time.UnixMicro(), e.Type, e.UserID, e.ClientID, e.Detail, e.RequestID, e.ClientIP)
			}
			var err error
			if len(chunk) == auditRowsPerInsert {
				_, err = tx.exec(ctx, tx.stmts.insertAudit, args...) // a busy server's case: prepared once
			} else {
				_, err = tx.ExecContext(ctx, auditInsert(len(chunk)), args...)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}))
}

// ListAuditEvents returns the selected events in the order recorded.
func (s *Store) ListAuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = -1 // no limit
	}
	var since int64 = -1 << 62
	if !q.Since.IsZero() {
		since = q.Since.UnixMicro()
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT id, `+auditCols+` FROM audit_events
		WHERE (?1 = '' OR user_id = ?1) AND time >= ?2 ORDER BY id DESC LIMIT ?3`, q.UserID, since, limit)
	if err != nil {
		return nil, wrap("list audit events", err)
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var e store.AuditEvent
		if err := rows.Scan(&e.ID, timeCol{&e.Time}, &e.Type, &e.UserID, &e.ClientID, &e.Detail, &e.RequestID, &e.ClientIP); err != nil {
			return nil, wrap("list audit events", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list audit events", err)
	}
	slices.Reverse(out)
	return out, nil
}

// DeleteExpiredSecurity removes due rate-limit counters and old audit
// events, at most limit of each.
func (s *Store) DeleteExpiredSecurity(ctx context.Context, now, auditBefore time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	total := 0
	// key and id are each table's primary key; the inner SELECT bounds
	// the batch so that no statement holds the writer for long.
	del := func(table, key, col string, before int64) error {
		res, err := s.writer.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+key+` IN
			(SELECT `+key+` FROM `+table+` WHERE `+col+` < ? LIMIT ?)`, before, limit)
		if err != nil {
			return wrap("delete expired "+table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap("delete expired "+table, err)
		}
		total += int(n)
		return nil
	}
	if err := del("rate_limits", "key", "expires_at", now.UnixMicro()); err != nil {
		return total, err
	}
	if !auditBefore.IsZero() {
		if err := del("audit_events", "id", "time", auditBefore.UnixMicro()); err != nil {
			return total, err
		}
	}
	return total, nil
}
