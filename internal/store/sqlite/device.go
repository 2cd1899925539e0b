package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

const deviceGrantCols = `device_code_hash, user_code_hash, client_id, scopes, start_url, status, interval_us,
	created_at, expires_at, last_poll_at, prev_poll_at, user_id, decided_at, request_ip, request_user_agent`

func deviceGrantDest(g *store.DeviceGrant) []any {
	return []any{&g.DeviceCodeHash, &g.UserCodeHash, &g.ClientID, listCol{&g.Scopes}, &g.StartURL, &g.Status,
		durationCol{&g.Interval}, timeCol{&g.CreatedAt}, timeCol{&g.ExpiresAt}, timeCol{&g.LastPollAt},
		timeCol{&g.PrevPollAt}, &g.UserID, timeCol{&g.DecidedAt}, &g.RequestIP, &g.RequestUserAgent}
}

func scanDeviceGrant(r scanner) (store.DeviceGrant, error) {
	var g store.DeviceGrant
	err := r.Scan(deviceGrantDest(&g)...)
	return g, err
}

// CreateDeviceGrant stores g; store.ErrAlreadyExists if either code hash is
// taken.
func (s *Store) CreateDeviceGrant(ctx context.Context, g store.DeviceGrant) error {
	if err := s.userCodes.reserve(ctx, s, g.UserCodeHash); err != nil {
		return err
	}
	// The hot write of StartDeviceAuthorization: group-committed.
	var rowid int64
	err := s.write(ctx, false, func(ctx context.Context, tx *wtx) error {
		res, err := tx.exec(ctx, tx.stmts.insertGrant,
			g.DeviceCodeHash, g.UserCodeHash, g.ClientID, list(g.Scopes), g.StartURL, string(g.Status),
			g.Interval.Microseconds(), micros(g.CreatedAt), micros(g.ExpiresAt), micros(g.LastPollAt),
			micros(g.PrevPollAt), g.UserID, micros(g.DecidedAt), g.RequestIP, g.RequestUserAgent)
		if err == nil {
			rowid, err = res.LastInsertId()
		}
		return wrap("create device grant", err)
	})
	s.userCodes.settle(g.UserCodeHash, rowid, err == nil)
	if err == nil {
		s.polls.created(g, g.CreatedAt)
		s.live.created(g, rowid)
	}
	return err
}

// GetDeviceGrantByUserCode returns the grant with that user code hash, in
// any state.
func (s *Store) GetDeviceGrantByUserCode(ctx context.Context, userCodeHash []byte) (store.DeviceGrant, error) {
	rowid, found, err := s.userCodes.lookup(ctx, s, userCodeHash)
	if err != nil {
		return store.DeviceGrant{}, wrap("get device grant", err)
	}
	if !found {
		return store.DeviceGrant{}, fmt.Errorf("sqlite: get device grant: %w", store.ErrNotFound)
	}
	g, err := scanDeviceGrant(s.reader.QueryRowContext(ctx,
		`SELECT `+deviceGrantCols+` FROM device_grants WHERE rowid = ? AND user_code_hash = ?`, rowid, userCodeHash))
	if err != nil {
		return store.DeviceGrant{}, wrap("get device grant", err)
	}
	return s.polls.overlay(g), nil
}

// PollDeviceGrant records a poll at now by clientID and returns the grant as
// it is after the poll; see store.DeviceGrants. The grant is read from the
// database; the poll itself is recorded in memory (see pollTracker).
func (s *Store) PollDeviceGrant(ctx context.Context, deviceCodeHash []byte, clientID string, now time.Time, slowDownStep time.Duration) (store.DeviceGrant, store.PollOutcome, error) {
	select {
	case <-s.closing: // kept rows would still answer
		return store.DeviceGrant{}, store.PollOutcome{}, wrap("poll device grant", errClosed)
	default:
	}
	g, slow, ok := s.polls.pollPending(deviceCodeHash, clientID, now, slowDownStep)
	if !ok {
		gen := s.polls.generation()
		var err error
		g, err = scanDeviceGrant(s.getGrant.QueryRowContext(ctx, deviceCodeHash))
		if err == nil && g.ClientID != clientID {
			err = sql.ErrNoRows // another client's grant: not found, and left untouched
		}
		if err != nil {
			return store.DeviceGrant{}, store.PollOutcome{}, wrap("poll device grant", err)
		}
		g, slow = s.polls.poll(g, gen, now, slowDownStep)
	}
	if slow {
		// The grown interval must outlive this process: clients were told
		// it. Intervals only grow, so concurrent writes cannot undo one
		// another.
		if _, err := s.writer.ExecContext(ctx, `UPDATE device_grants SET interval_us = max(interval_us, ?)
			WHERE device_code_hash = ?`, g.Interval.Microseconds(), deviceCodeHash); err != nil {
			return store.DeviceGrant{}, store.PollOutcome{}, wrap("poll device grant", err)
		}
	}
	return g, store.PollOutcome{SlowDown: slow}, nil
}

// DecideDeviceGrant moves a pending, unexpired grant to approved or denied;
// see store.DeviceGrants. A grant expires at ExpiresAt.
func (s *Store) DecideDeviceGrant(ctx context.Context, userCodeHash []byte, userID string, approve bool, now time.Time) (store.DeviceGrant, error) {
	status := store.DeviceDenied
	if approve {
		status = store.DeviceApproved
	}
	rowid, found, err := s.userCodes.lookup(ctx, s, userCodeHash)
	if err != nil {
		return store.DeviceGrant{}, wrap("decide device grant", err)
	}
	if !found {
		return store.DeviceGrant{}, fmt.Errorf("sqlite: decide device grant: %w", store.ErrNotFound)
	}
	// The common case is one statement; only a refusal needs a second look
	// to say why. States only move forward, so that look cannot mislead.
	g, err := scanDeviceGrant(s.writer.QueryRowContext(ctx, `UPDATE device_grants
		SET status = ?, user_id = ?, decided_at = ?
		WHERE rowid = ? AND user_code_hash = ? AND status = ? AND (expires_at IS NULL OR expires_at > ?)
		RETURNING `+deviceGrantCols,
		string(status), userID, now.UnixMicro(), rowid, userCodeHash, string(store.DevicePending), now.UnixMicro()))
	if err == nil {
		s.polls.invalidate(g.DeviceCodeHash)
		s.live.gone(g.ClientID, rowid)
		return s.polls.overlay(g), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		// The update may have committed: no kept row, nor the live count,
		// can be trusted.
		s.polls.invalidateAll()
		s.live.forget()
		return store.DeviceGrant{}, wrap("decide device grant", err)
	}
	var cur store.DeviceGrantStatus
	err = s.writer.QueryRowContext(ctx, `SELECT status FROM device_grants WHERE rowid = ? AND user_code_hash = ?`,
		rowid, userCodeHash).Scan(&cur)
	switch {
	case err != nil:
		return store.DeviceGrant{}, wrap("decide device grant", err)
	case cur != store.DevicePending:
		return store.DeviceGrant{}, fmt.Errorf("sqlite: decide device grant: %s: %w", cur, store.ErrConsumed)
	default:
		return store.DeviceGrant{}, fmt.Errorf("sqlite: decide device grant: %w", store.ErrExpired)
	}
}

// RedeemDeviceGrant moves an approved grant to redeemed and writes tokens,
// in one transaction; store.ErrConsumed if the grant is not approved (or
// already redeemed), store.ErrNotFound if there is none.
func (s *Store) RedeemDeviceGrant(ctx context.Context, deviceCodeHash []byte, tokens store.TokenSet) error {
	const op = "redeem device grant"
	return s.write(ctx, true, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE device_grants SET status = ? WHERE device_code_hash = ? AND status = ?`,
			string(store.DeviceRedeemed), deviceCodeHash, string(store.DeviceApproved))
		if err != nil {
			return wrap(op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return wrap(op, err)
		} else if n == 0 {
			var exists bool
			if err := tx.queryRowSQL(ctx, `SELECT EXISTS (SELECT 1 FROM device_grants WHERE device_code_hash = ?)`,
				[]any{deviceCodeHash}, &exists); err != nil {
				return wrap(op, err)
			}
			if !exists {
				return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
			}
			return fmt.Errorf("sqlite: %s: %w", op, store.ErrConsumed)
		}
		if err := insertFamily(ctx, tx, tokens.Family); err != nil {
			return wrap(op, err)
		}
		return wrap(op, insertPair(ctx, tx, tokens.Family.ID, tokens))
	})
}
