package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
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
// SQLite store keeps it in memory instead (migration 0006 dropped it). It
// is derived from the table, built by one scan at its first use, and only
// this process changes it: a database is served by one process
// (LockServing), and only the serving process creates grants. It is also
// what keeps user codes unique, so it is exact: every lookup is checked
// against the row's own user code hash, and a code is refused only when a
// grant has it.
//
// Its entries are 8 bytes (codeTable; a load test starts hundreds of
// thousands of grants in minutes): a 32-bit hash of the user code hash,
// and the rowid as an offset from the lowest rowid at the build. The few
// grants that cannot be held so — one whose key another grant already has
// (at a million grants, one in 4 000), or whose rowid is four billion past
// that base — are held by their whole hash and rowid in a map of their
// own.
type userCodeIndex struct {
	mu       sync.Mutex
	seed     maphash.Seed
	rows     codeTable           // key → rowid - base
	more     map[string]int64    // user code hash → rowid, for the others
	reserved map[string]struct{} // the user code hashes of grants being written
	base     int64
	built    bool
}

func (x *userCodeIndex) key(userCodeHash []byte) uint32 {
	return uint32(maphash.Bytes(x.seed, userCodeHash))
}

// ensure builds the index from the table if it is not built yet; x.mu is
// held.
func (x *userCodeIndex) ensure(ctx context.Context, s *Store) error {
	if x.built {
		return nil
	}
	x.seed = maphash.MakeSeed()
	x.rows = newCodeTable()
	x.more = make(map[string]int64)
	x.reserved = make(map[string]struct{})
	if err := s.reader.QueryRowContext(ctx, `SELECT coalesce(min(rowid), 0) FROM device_grants`).Scan(&x.base); err != nil {
		return fmt.Errorf("index user codes: %w", err)
	}
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
		x.add(hash, rowid)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("index user codes: %w", err)
	}
	x.built = true
	return nil
}

// add indexes the grant at rowid; x.mu is held.
func (x *userCodeIndex) add(userCodeHash []byte, rowid int64) {
	k := x.key(userCodeHash)
	if _, taken := x.rows.get(k); taken || rowid < x.base || rowid-x.base > math.MaxUint32 {
		x.more[string(userCodeHash)] = rowid
		return
	}
	x.rows.put(k, uint32(rowid-x.base))
}

// find returns the rowid of the grant that may have userCodeHash (the
// caller checks the row); x.mu is held.
func (x *userCodeIndex) find(userCodeHash []byte) (int64, bool) {
	if rowid, ok := x.more[string(userCodeHash)]; ok {
		return rowid, true
	}
	off, ok := x.rows.get(x.key(userCodeHash))
	return x.base + int64(off), ok
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
	taken := func() error { return fmt.Errorf("sqlite: create device grant: user code: %w", store.ErrAlreadyExists) }
	if _, ok := x.reserved[string(userCodeHash)]; ok {
		return taken()
	}
	if rowid, ok := x.find(userCodeHash); ok {
		// The same code, or another whose key is the same: the row says.
		var one int
		err := s.reader.QueryRowContext(ctx, `SELECT 1 FROM device_grants WHERE rowid = ? AND user_code_hash = ?`,
			rowid, userCodeHash).Scan(&one)
		switch {
		case err == nil:
			return taken()
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("index user codes: %w", err)
		}
	}
	x.reserved[string(userCodeHash)] = struct{}{}
	return nil
}

// settle ends a reservation: the grant's row, or nothing if it was not
// written.
func (x *userCodeIndex) settle(userCodeHash []byte, rowid int64, written bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.reserved, string(userCodeHash))
	if written {
		x.add(userCodeHash, rowid)
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
	rowid, ok := x.find(userCodeHash)
	return rowid, ok, nil
}

// remove forgets the grant at rowid, deleted from the table.
func (x *userCodeIndex) remove(userCodeHash []byte, rowid int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.built {
		return
	}
	if r, ok := x.more[string(userCodeHash)]; ok && r == rowid {
		delete(x.more, string(userCodeHash))
		return
	}
	if rowid >= x.base && rowid-x.base <= math.MaxUint32 {
		x.rows.delete(x.key(userCodeHash), uint32(rowid-x.base))
	}
}
