package sqlite

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/ssooidc/ssooidc/internal/store"
)

// userCodeIndex finds a device grant's row by its user code hash, in
// memory.
//
// User codes are random, so an index on their hash takes each new grant to
// a random page of that index: one more page written to the WAL per grant,
// and copied back into the database file by the next checkpoint. On a
// busy server that was a fifth of the CPU of StartDeviceAuthorization and,
// through the checkpoint, most of its latency above the median. The only
// uses of the index are rare — a person typing a code, a decision — so the
// SQLite store keeps it in memory instead (migration 0006 dropped it):
// a map from a 64-bit hash of the user code hash to the grant's rowid,
// about 30 bytes per grant. It is derived from the table, built by one
// scan at its first use, and only this process changes it: a database is
// served by one process (LockServing), and only the serving process
// creates grants. Every lookup is checked against the row's own user code
// hash. Two user codes whose 64-bit hashes collide count as taken
// (ErrAlreadyExists), which the engine answers with another code.
type userCodeIndex struct {
	mu    sync.Mutex
	seed  maphash.Seed
	rows  map[uint64]int64 // 0: reserved by a grant being written
	built bool
}

func (x *userCodeIndex) key(userCodeHash []byte) uint64 {
	return maphash.Bytes(x.seed, userCodeHash)
}

// ensure builds the index from the table if it is not built yet; x.mu is
// held.
func (x *userCodeIndex) ensure(ctx context.Context, s *Store) error {
	if x.built {
		return nil
	}
	x.seed = maphash.MakeSeed()
	x.rows = make(map[uint64]int64)
	rows, err := s.reader.QueryContext(ctx, `SELECT user_code_hash, rowid FROM device_grants`)
	if err != nil {
		return fmt.Errorf("index user codes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var hash []byte
		var rowid int64
		if err := rows.Scan(&hash, &rowid); err != nil {
			return fmt.Errorf("index user codes: %w", err)
		}
		x.rows[x.key(hash)] = rowid
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("index user codes: %w", err)
	}
	x.built = true
	return nil
}

// reserve claims a user code hash for a grant about to be written:
// store.ErrAlreadyExists if a grant (or another write) has it. settle must
// follow.
func (x *userCodeIndex) reserve(ctx context.Context, s *Store, userCodeHash []byte) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.ensure(ctx, s); err != nil {
		return err
	}
	k := x.key(userCodeHash)
	if _, taken := x.rows[k]; taken {
		return fmt.Errorf("sqlite: create device grant: user code: %w", store.ErrAlreadyExists)
	}
	x.rows[k] = 0
	return nil
}

// settle ends a reservation: the grant's row, or nothing if it was not
// written.
func (x *userCodeIndex) settle(userCodeHash []byte, rowid int64, written bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if written {
		x.rows[x.key(userCodeHash)] = rowid
	} else {
		delete(x.rows, x.key(userCodeHash))
	}
}

// lookup returns the rowid of the grant with that user code hash, if any
// (the caller checks the row's hash).
func (x *userCodeIndex) lookup(ctx context.Context, s *Store, userCodeHash []byte) (int64, bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.ensure(ctx, s); err != nil {
		return 0, false, err
	}
	rowid := x.rows[x.key(userCodeHash)]
	return rowid, rowid != 0, nil
}

// remove forgets the grant at rowid, deleted from the table.
func (x *userCodeIndex) remove(userCodeHash []byte, rowid int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if k := x.key(userCodeHash); x.built && x.rows[k] == rowid {
		delete(x.rows, k)
	}
}
