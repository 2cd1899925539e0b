package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ssooidc/ssooidc/internal/store"
)

const deviceGrantCols = `device_code_hash, user_code_hash, client_id, scopes, start_url, status, interval_us,
	created_at, expires_at, last_poll_at, prev_poll_at, user_id, decided_at, request_ip, request_user_agent`

func deviceGrantDest(g *store.DeviceGrant) []any {
	return []any{&g.DeviceCodeHash, &g.UserCodeHash, &g.ClientID, listCol{&g.Scopes}, &g.StartURL, &g.Status,
		durationCol{&g.Interval}, timeCol{&g.CreatedAt}, timeCol{&g.ExpiresAt}, timeCol{&g.LastPollAt},
		timeCol{&g.PrevPollAt}, &g.UserID, timeCol{&g.DecidedAt}, &g.RequestIP, &g.RequestUserAgent}
}

func scanDeviceGrant(r pgx.Row) (store.DeviceGrant, error) {
	var g store.DeviceGrant
	err := r.Scan(deviceGrantDest(&g)...)
	return g, err
}

// cleanText makes request metadata (the requester's address and user agent,
// shown on the consent page) storable as PostgreSQL text, which refuses NUL
// and invalid UTF-8 that an HTTP header may carry: NULs are dropped and
// invalid bytes become U+FFFD. Valid text is unchanged.
func cleanText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

// CreateDeviceGrant stores g; store.ErrAlreadyExists if either code hash is
// taken. RequestIP and RequestUserAgent are stored as cleanText makes them.
func (s *Store) CreateDeviceGrant(ctx context.Context, g store.DeviceGrant) error {
	return wrap("create device grant", s.insertGrant(ctx, g)) // grouped: grantbatch.go
}

// GetDeviceGrantByUserCode returns the grant with that user code hash, in
// any state.
func (s *Store) GetDeviceGrantByUserCode(ctx context.Context, userCodeHash []byte) (store.DeviceGrant, error) {
	var g store.DeviceGrant
	err := s.run(ctx, func(ctx context.Context) (err error) {
		g, err = scanDeviceGrant(s.pool.QueryRow(ctx,
			`SELECT `+deviceGrantCols+` FROM device_grants WHERE user_code_hash = $1`, userCodeHash))
		return err
	})
	if err != nil {
		return store.DeviceGrant{}, wrap("get device grant", err)
	}
	return g, nil
}

// pollGrantSQL records a poll in one statement. Every right-hand side reads
// the row as it was before the update, so the slow-down verdict uses the
// old PrevPollAt and Interval while the poll times shift; a concurrent poll
// waits for the row lock and then updates the row this one left, so none
// is lost. $1 now, $2 slow-down step, $3 device code hash, $4 client id,
// $5 pending.
const pollGrantSQL = `UPDATE device_grants SET
	slowed = (status = $5 AND prev_poll_at IS NOT NULL AND $1 - prev_poll_at < interval_us),
	interval_us = interval_us + CASE
		WHEN status = $5 AND prev_poll_at IS NOT NULL AND $1 - prev_poll_at < interval_us THEN $2
		ELSE 0 END,
	prev_poll_at = last_poll_at,
	last_poll_at = $1
WHERE device_code_hash = $3 AND client_id = $4
RETURNING ` + deviceGrantCols + `, slowed`

// PollDeviceGrant records a poll at now by clientID and returns the grant as
// it is after the poll; see store.DeviceGrants. The poll is one UPDATE,
// sent in one round trip with a transaction-local synchronous_commit = off:
// a crash may forget the latest poll times, nothing else.
func (s *Store) PollDeviceGrant(ctx context.Context, deviceCodeHash []byte, clientID string, now time.Time, slowDownStep time.Duration) (store.DeviceGrant, store.PollOutcome, error) {
	var g store.DeviceGrant
	var out store.PollOutcome
	err := s.run(ctx, func(ctx context.Context) error {
		// A batch is one implicit transaction: the setting holds for the
		// UPDATE's commit and ends with it.
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
		b.Queue(pollGrantSQL, now.UnixMicro(), slowDownStep.Microseconds(), deviceCodeHash, clientID,
			string(store.DevicePending)).QueryRow(func(row pgx.Row) error {
			g, out = store.DeviceGrant{}, store.PollOutcome{}
			return row.Scan(append(deviceGrantDest(&g), &out.SlowDown)...)
		})
		return s.pool.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return store.DeviceGrant{}, store.PollOutcome{}, wrap("poll device grant", err)
	}
	return g, out, nil
}

// DecideDeviceGrant moves a pending, unexpired grant to approved or denied;
// see store.DeviceGrants. A grant expires at ExpiresAt.
func (s *Store) DecideDeviceGrant(ctx context.Context, userCodeHash []byte, userID string, approve bool, now time.Time) (store.DeviceGrant, error) {
	const op = "decide device grant"
	status := store.DeviceDenied
	if approve {
		status = store.DeviceApproved
	}
	var g store.DeviceGrant
	var cur store.DeviceGrantStatus
	err := s.run(ctx, func(ctx context.Context) error {
		// The common case is one statement; only a refusal needs a second
		// look to say why. States only move forward, so that look cannot
		// mislead.
		cur = ""
		var err error
		g, err = scanDeviceGrant(s.pool.QueryRow(ctx, `UPDATE device_grants
			SET status = $1, user_id = $2, decided_at = $3
			WHERE user_code_hash = $4 AND status = $5 AND (expires_at IS NULL OR expires_at > $3)
			RETURNING `+deviceGrantCols,
			string(status), userID, now.UnixMicro(), userCodeHash, string(store.DevicePending)))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return s.pool.QueryRow(ctx, `SELECT status FROM device_grants WHERE user_code_hash = $1`, userCodeHash).Scan(&cur)
	})
	switch {
	case err != nil:
		return store.DeviceGrant{}, wrap(op, err)
	case cur == "":
		return g, nil
	case cur != store.DevicePending:
		return store.DeviceGrant{}, fmt.Errorf("postgres: %s: %s: %w", op, cur, store.ErrConsumed)
	default:
		return store.DeviceGrant{}, fmt.Errorf("postgres: %s: %w", op, store.ErrExpired)
	}
}

// RedeemDeviceGrant moves an approved grant to redeemed and writes tokens,
// in one transaction; store.ErrConsumed if the grant is not approved (or
// already redeemed), store.ErrNotFound if there is none. The UPDATE guarded
// by status = approved takes the row lock: a concurrent redemption waits,
// then finds the grant redeemed.
func (s *Store) RedeemDeviceGrant(ctx context.Context, deviceCodeHash []byte, tokens store.TokenSet) error {
	const op = "redeem device grant"
	var refusal error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		refusal = nil
		tag, err := tx.Exec(ctx, `UPDATE device_grants SET status = $1 WHERE device_code_hash = $2 AND status = $3`,
			string(store.DeviceRedeemed), deviceCodeHash, string(store.DeviceApproved))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM device_grants WHERE device_code_hash = $1)`,
				deviceCodeHash).Scan(&exists); err != nil {
				return err
			}
			refusal = store.ErrConsumed
			if !exists {
				refusal = store.ErrNotFound
			}
			return refusal
		}
		if err := insertFamily(ctx, tx, tokens.Family); err != nil {
			return err
		}
		return insertPair(ctx, tx, tokens.Family.ID, tokens)
	})
	if refusal != nil {
		return fmt.Errorf("postgres: %s: %w", op, refusal)
	}
	return wrap(op, err)
}
