package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

// liveGrantCount counts each client's pending device grants, in memory,
// for CountLiveDeviceGrants.
//
// An index on (client_id, expires_at) would count them, but it took every
// new grant to its client's place in that index: one more page written to
// the WAL per grant, and copied back by the next checkpoint, whether or not
// the bound it serves was configured (migration 0007 dropped it). Like the
// user code index, this is derived from the table and only this process
// changes what it mirrors (LockServing). It is built by one scan at the
// first count, so a server that bounds nothing never holds it, and from
// then on it holds exactly the pending rows with an expiry: 16 bytes each,
// and a server that bounds each client's grants has few per client.
type liveGrantCount struct {
	mu      sync.Mutex
	built   bool
	through int64 // the highest rowid the build saw: later rows are added as they are written
	pending map[string][]liveGrant
}

type liveGrant struct {
	rowid     int64
	expiresUS int64
}

// count returns the client's pending grants that expire after now.
func (c *liveGrantCount) count(ctx context.Context, s *Store, clientID string, now time.Time) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensure(ctx, s); err != nil {
		return 0, err
	}
	nowUS, n := now.UnixMicro(), 0
	for _, g := range c.pending[clientID] {
		if g.expiresUS > nowUS {
			n++
		}
	}
	return n, nil
}

// ensure builds the count from the table if it is not built yet; c.mu is
// held, so no write can be added or removed while the scan runs: a row
// the scan saw is not added again (rowid <= through), and one it did not
// is added when its write settles.
func (c *liveGrantCount) ensure(ctx context.Context, s *Store) error {
	if c.built {
		return nil
	}
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("count live device grants: %w", err)
	}
	defer tx.Rollback() // it only read
	// One snapshot for both statements: rows written after it are above
	// through.
	var through int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(rowid), 0) FROM device_grants`).Scan(&through); err != nil {
		return fmt.Errorf("count live device grants: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT rowid, client_id, expires_at FROM device_grants
		WHERE status = ? AND expires_at IS NOT NULL ORDER BY rowid`, string(store.DevicePending))
	if err != nil {
		return fmt.Errorf("count live device grants: %w", err)
	}
	defer rows.Close()
	pending := make(map[string][]liveGrant)
	for rows.Next() {
		var g liveGrant
		var clientID string
		if err := rows.Scan(&g.rowid, &clientID, &g.expiresUS); err != nil {
			return fmt.Errorf("count live device grants: %w", err)
		}
		pending[clientID] = append(pending[clientID], g)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count live device grants: %w", err)
	}
	c.built, c.through, c.pending = true, through, pending
	return nil
}

// created adds a pending grant just written at rowid.
func (c *liveGrantCount) created(g store.DeviceGrant, rowid int64) {
	if g.Status != store.DevicePending || g.ExpiresAt.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.built && rowid > c.through {
		c.pending[g.ClientID] = append(c.pending[g.ClientID], liveGrant{rowid, g.ExpiresAt.UnixMicro()})
	}
}

// gone removes the client's grant at rowid: decided, or deleted.
func (c *liveGrantCount) gone(clientID string, rowid int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.pending[clientID]
	i := slices.IndexFunc(list, func(g liveGrant) bool { return g.rowid == rowid })
	switch {
	case i < 0:
	case len(list) == 1:
		delete(c.pending, clientID)
	default:
		c.pending[clientID] = slices.Delete(list, i, i+1)
	}
}

// forget drops the count after a write whose outcome is unknown; the next
// count builds it again.
func (c *liveGrantCount) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.built, c.pending = false, nil
}
