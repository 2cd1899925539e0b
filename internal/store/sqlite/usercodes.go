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
// a map from a hash of the user code hash to the grant's rowid. It is
// derived from the table, built by one
// scan at its first use, and only this process changes it: a database is
// served by one process (LockServing), and only the serving process
// creates grants. Every lookup is checked against the row's own user code
// hash.
//
// An entry is eight bytes, about 10–20 with the map's own room (it was
// twice that with 64-bit keys and rowids, and a server started a few
// hundred thousand grants in a load test's minutes): the key is a 32-bit
// hash of the user code hash, the value the rowid's low 32 bits. Two user
// codes whose keys collide count as taken (ErrAlreadyExists), which the
// engine answers with another code — at a million live grants, one new
// code in 4 000. A rowid is rebuilt from its low bits and the highest
// rowid indexed: rowids grow by one per grant, and a grant is collected
// long before four billion more are started (were it not, its lookup
// would fail the check against the row and find nothing, never another
// grant).
type userCodeIndex struct {
	mu       sync.Mutex
	seed     maphash.Seed
	rows     map[uint32]uint32   // the low bits of the rowid
	reserved map[uint32]struct{} // by grants being written
	maxRowid int64
	built    bool
}

func (x *userCodeIndex) key(userCodeHash []byte) uint32 {
	return uint32(maphash.Bytes(x.seed, userCodeHash))
}

// add indexes the grant at rowid; x.mu is held.
func (x *userCodeIndex) add(k uint32, rowid int64) {
	x.rows[k] = uint32(rowid)
	x.maxRowid = max(x.maxRowid, rowid)
}

// rowid rebuilds a rowid from its low bits: the one at most maxRowid and
// above maxRowid - 2^32.
func (x *userCodeIndex) rowid(low uint32) int64 {
	r := x.maxRowid&^(1<<32-1) | int64(low)
	if r > x.maxRowid {
		r -= 1 << 32
	}
	return r
}

// ensure builds the index from the table if it is not built yet; x.mu is
// held.
func (x *userCodeIndex) ensure(ctx context.Context, s *Store) error {
	if x.built {
		return nil
	}
	x.seed = maphash.MakeSeed()
	x.rows = make(map[uint32]uint32)
	x.reserved = make(map[uint32]struct{})
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
		x.add(x.key(hash), rowid)
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
	_, taken := x.rows[k]
	_, reserved := x.reserved[k]
	if taken || reserved {
		return fmt.Errorf("sqlite: create device grant: user code: %w", store.ErrAlreadyExists)
	}
	x.reserved[k] = struct{}{}
	return nil
}

// settle ends a reservation: the grant's row, or nothing if it was not
// written.
func (x *userCodeIndex) settle(userCodeHash []byte, rowid int64, written bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := x.key(userCodeHash)
	delete(x.reserved, k)
	if written {
		x.add(k, rowid)
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
	low, found := x.rows[x.key(userCodeHash)]
	if !found {
		return 0, false, nil
	}
	return x.rowid(low), true, nil
}

// remove forgets the grant at rowid, deleted from the table.
func (x *userCodeIndex) remove(userCodeHash []byte, rowid int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if k := x.key(userCodeHash); x.built && x.rows[k] == uint32(rowid) && x.rowid(uint32(rowid)) == rowid {
		delete(x.rows, k)
	}
}
