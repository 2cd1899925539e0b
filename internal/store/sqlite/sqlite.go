// Package sqlite is the default store.Store backend: one SQLite database
// file, driven by modernc.org/sqlite (pure Go, so the binary stays static).
//
// Writes go through a pool of exactly one connection, so writers in this
// process queue inside database/sql instead of failing with SQLITE_BUSY, and
// every write transaction begins IMMEDIATE, so one started by another process
// (the CLI next to a running server) waits under busy_timeout instead of
// failing on upgrade. Reads use a separate small pool that WAL mode lets run
// alongside the writer. Each state change the contract calls atomic is one
// statement or one transaction on the writer.
//
// Times are stored as INTEGER unix microseconds (NULL for the zero time),
// durations as INTEGER microseconds, hashes as BLOBs and string lists as JSON
// arrays; the schema lives in the embedded migrations directory.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ssooidc/ssooidc/internal/store"
)

var _ store.Store = (*Store)(nil)

// readers is the size of the read pool: enough for a busy server's
// concurrent lookups on a small machine, few enough to keep memory small.
const readers = 4

// busyTimeout is how long a connection waits for another process's lock.
const busyTimeout = 5 * time.Second

// Store is a store.Store on one SQLite file. It is safe for concurrent use.
type Store struct {
	writer *sql.DB // exactly one connection: every write and write transaction
	reader *sql.DB // query_only connections for pure reads

	backupDSN string   // a plain connection's: see Backup
	path      string   // the database file, absolute
	serveLock *os.File // held while this process serves the database: LockServing

	// Hot reads, prepared once per connection rather than per call (the
	// hot writes are the committer's: see wtx).
	getClient  *sql.Stmt
	getAccess  *sql.Stmt
	getRefresh *sql.Stmt
	getGrant   *sql.Stmt
	getUser    *sql.Stmt

	polls     pollTracker    // device grant poll times: see pollTracker
	userCodes userCodeIndex  // device grants by user code: see userCodeIndex
	live      liveGrantCount // pending device grants by client: see liveGrantCount

	// sweep is where deleteExpiredGrants and sweepTokens stopped.
	sweep struct {
		mu          sync.Mutex
		grantsAfter int64             // the last device grant rowid looked at
		tokensAfter map[string][]byte // by token table: the last hash looked at
	}

	// The committer (commit.go) and the checkpointer (checkpoint.go).
	jobs             chan *writeJob
	batch            wtx        // the committer's, reused by every group commit
	commitGate       sync.Mutex // held by each group commit, and by a checkpoint that must start the WAL over
	closing          chan struct{}
	committerDone    chan struct{} // nil until it runs
	checkpointer     *sql.DB
	checkpointKick   chan struct{}
	checkpointerDone chan struct{} // nil until it runs
	checkpointFailed atomic.Pointer[error]
	// A checkpointer that syncs for itself (checkpoint.go); fsync is nil
	// where it cannot, and SQLite syncs.
	fsync           syncer
	dbFile, walFile *os.File
	checkpointHolds *sql.Tx // the snapshot held after a failed fsync
}

// Open opens (creating if needed) the database at path, brings its schema up
// to date and returns the store. It refuses a database whose schema is newer
// than this binary knows (*SchemaTooNewError). path must name a file: an
// in-memory database cannot be shared by the writer and the read pool.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, defaultCheckpoints)
}

func open(ctx context.Context, path string, checkpoints checkpointPolicy) (*Store, error) {
	useFdatasync()
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want a database file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	writer, err := sql.Open("sqlite", dsn(abs, false, "NORMAL"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// Migrate before the readers connect: the writer's first connection
	// creates the file and switches it to WAL.
	if err := migrate(ctx, writer); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	reader, err := sql.Open("sqlite", dsn(abs, true, "NORMAL"))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)

	s := &Store{writer: writer, reader: reader, backupDSN: dsn(abs, false, "NORMAL"), path: abs,
		jobs: make(chan *writeJob), closing: make(chan struct{}), checkpointKick: make(chan struct{}, 1)}
	if err := s.openCheckpointer(checkpoints); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.committerDone = make(chan struct{})
	go s.commitLoop()
	s.checkpointerDone = make(chan struct{})
	go s.checkpointLoop(checkpoints)
	return s, nil
}

// useFdatasync has SQLite sync with fdatasync where the platform has it, as
// SQLite's own builds for Linux do (this driver keeps fsync unless told):
// the data and its size, not the timestamps, whose update fsync forces
// through the file system's journal. The switch is the driver's, for the
// whole process; where fdatasync is missing SQLite keeps fsync.
func useFdatasync() { _, _ = sqlitedriver.Fdatasync(true) }

// dsn builds the connection string. The pragmas are DSN parameters so that
// every connection the pools open gets them, not just the first.
// synchronous is NORMAL but for a checkpointer that syncs for itself
// (checkpoint.go): in WAL mode NORMAL keeps the file consistent through a
// crash without an fsync per commit; a power loss may undo only the last
// commits.
func dsn(path string, readOnly bool, synchronous string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+synchronous+")")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// Each reader keeps its own page cache, mostly of the same hot
		// index pages; 512 KiB each rather than SQLite's 2 MiB keeps the
		// resident set small (the OS caches the file for all of them).
		q.Add("_pragma", "cache_size(-512)")
	} else {
		q.Set("_txlock", "immediate")
		// Never checkpoint inside a commit: the checkpointer does
		// (checkpoint.go).
		q.Add("_pragma", "wal_autocheckpoint(0)")
	}
	// A file: URI, so that the path is escaped rather than cut at a '?'.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.getClient, `SELECT ` + clientCols + ` FROM clients WHERE id = ?`},
		{&s.getAccess, `SELECT a.hash, a.family_id, a.created_at, a.expires_at, ` + familyCols + `
			FROM access_tokens a JOIN token_families f ON f.id = a.family_id WHERE a.hash = ?`},
		{&s.getRefresh, `SELECT ` + refreshCols + `, ` + familyCols + `
			FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id WHERE r.hash = ?`},
		{&s.getGrant, `SELECT ` + deviceGrantCols + ` FROM device_grants WHERE device_code_hash = ?`},
		{&s.getUser, `SELECT ` + userCols + ` FROM users WHERE id = ?`},
	} {
		stmt, err := s.reader.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		*p.stmt = stmt
	}
	return nil
}

// Close stops the committer (a write in progress finishes; one still
// waiting fails) and closes both pools.
func (s *Store) Close() error {
	select {
	case <-s.closing:
	default:
		close(s.closing)
	}
	if s.committerDone != nil {
		<-s.committerDone
	}
	if s.checkpointerDone != nil {
		<-s.checkpointerDone
	}
	var errs []error
	for _, stmt := range []*sql.Stmt{s.getClient, s.getAccess, s.getRefresh, s.getGrant, s.getUser} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	// The writer closes last: the last connection to close checkpoints
	// the whole WAL and deletes it, and the writer syncs as it does so.
	if s.checkpointer != nil {
		errs = append(errs, s.checkpointer.Close())
	}
	errs = append(errs, s.reader.Close(), s.writer.Close(), s.closeCheckpointFiles())
	if s.serveLock != nil {
		errs = append(errs, s.serveLock.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Ping checks that the database file answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return wrap("ping", err)
	}
	if err := s.checkpointFailed.Load(); err != nil {
		return fmt.Errorf("sqlite: ping: %w", *err)
	}
	return nil
}

// Backup writes a consistent copy of the live database to destPath, which
// must not exist yet. VACUUM INTO reads one WAL snapshot, so writers carry
// on meanwhile; it runs on a connection of its own because the readers are
// query_only, which refuses it, and the writer must stay free.
func (s *Store) Backup(ctx context.Context, destPath string) error {
	db, err := sql.Open("sqlite", s.backupDSN)
	if err != nil {
		return wrap("backup to "+destPath, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, destPath); err != nil {
		return wrap("backup to "+destPath, err)
	}
	return wrap("backup to "+destPath, db.Close())
}

// Settings.

// GetSetting returns the value of key, or store.ErrNotFound.
func (s *Store) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	if err := s.reader.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v); err != nil {
		return "", wrap("get setting", err)
	}
	return v, nil
}

// PutSettingIfAbsent stores value unless key is set, and returns the value
// now stored.
func (s *Store) PutSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	// The no-op update makes RETURNING yield the existing row on conflict,
	// so the answer comes from the same statement as the insert.
	var v string
	err := s.writer.QueryRowContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = settings.value
		RETURNING value`, key, value).Scan(&v)
	if err != nil {
		return "", wrap("put setting", err)
	}
	return v, nil
}

// Maintenance.

// DeleteExpired removes at most limit rows of each kind whose removal time
// is before now, in bounded batches so that no statement holds the write
// lock for long. Tokens go with their family, uncounted: a token whose
// family is gone is found by no lookup at once, and its row is removed by
// a sweep of the token tables (sweepTokens). A limit below 1 removes
// nothing.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, keep time.Duration, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	nowUS := now.UnixMicro()
	keptUS := now.Add(-keep).UnixMicro()
	total := 0
	for _, k := range []struct {
		table  string
		before int64
	}{
		{"clients", nowUS},
		{"device_grants", keptUS},
		{"auth_codes", keptUS},
		{"sessions", nowUS},
		{"token_families", nowUS},
		{"signing_keys", nowUS},
	} {
		n, err := s.deleteExpired(ctx, k.table, k.before, limit)
		if err != nil {
			return total, wrap("delete expired "+k.table, err)
		}
		total += n
	}
	for _, table := range []string{"access_tokens", "refresh_tokens"} {
		if err := s.sweepTokens(ctx, table, sweepPerLimit*int64(limit)); err != nil {
			return total, wrap("delete tokens of gone families", err)
		}
	}
	s.polls.prune(nowUS)
	return total, nil
}

// deleteExpired removes at most limit rows of table whose expires_at is
// before before.
func (s *Store) deleteExpired(ctx context.Context, table string, before int64, limit int) (int, error) {
	if table == "device_grants" {
		return s.deleteExpiredGrants(ctx, before, limit)
	}
	res, err := s.writer.ExecContext(ctx, `DELETE FROM `+table+` WHERE rowid IN
		(SELECT rowid FROM `+table+` WHERE expires_at < ? LIMIT ?)`, before, limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// deleteExpiredGrants removes at most limit device grants whose expires_at
// is before before; they leave the user code index and the live count with
// their row.
//
// The table has no index on expires_at (migration 0007). Rows are stored
// in the order they were issued, and all grants live equally long, so the
// due ones are the first rows: each call looks at the first limit rows and
// removes the due ones among them. A grant can be due behind rows issued
// ahead of it that are not only when the grant lifetime was shortened (or
// the clock stepped back); a second look, in slices of the table after
// where the previous one stopped, finds it within one pass over the table.
func (s *Store) deleteExpiredGrants(ctx context.Context, before int64, limit int) (int, error) {
	const returning = ` RETURNING rowid, user_code_hash, client_id`
	n, _, err := s.deleteGrants(ctx, `DELETE FROM device_grants WHERE rowid IN
		(SELECT rowid FROM (SELECT rowid, expires_at FROM device_grants ORDER BY rowid LIMIT ?)
			WHERE expires_at < ?)`+returning, limit, before)
	if err != nil || n == limit {
		return n, err
	}
	s.sweep.mu.Lock()
	defer s.sweep.mu.Unlock()
	for scan := sweepPerLimit * int64(limit); scan > 0 && n < limit; {
		chunk := min(scan, scanChunk)
		scan -= chunk
		// The slice is chunk rows, not rowids: the rowids of a busy
		// server's old grants are long gone.
		from := s.sweep.grantsAfter
		var to, rows int64
		if err := s.writer.QueryRowContext(ctx, `SELECT coalesce(max(rowid), 0), count(*) FROM
			(SELECT rowid FROM device_grants WHERE rowid > ? ORDER BY rowid LIMIT ?)`, from, chunk).Scan(&to, &rows); err != nil {
			return n, err
		}
		m, last, err := s.deleteGrants(ctx, `DELETE FROM device_grants WHERE rowid IN
			(SELECT rowid FROM device_grants WHERE rowid > ? AND rowid <= ? AND expires_at < ? LIMIT ?)`+returning,
			from, to, before, limit-n)
		n += m
		switch {
		case err != nil:
			return n, err
		case n == limit:
			s.sweep.grantsAfter = last // the slice may hold more due grants after the last one removed
		case rows < chunk:
			s.sweep.grantsAfter = 0 // the end: the next look starts from the first row
			return n, nil
		default:
			s.sweep.grantsAfter = to
		}
		runtime.Gosched() // see scanChunk
	}
	return n, nil
}

// deleteGrants runs a DELETE … RETURNING rowid, user_code_hash, client_id
// on device_grants, forgets the deleted grants in memory, and returns how
// many it deleted and the highest rowid among them.
func (s *Store) deleteGrants(ctx context.Context, query string, args ...any) (n int, last int64, err error) {
	rows, err := s.writer.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var rowid int64
		var userCodeHash []byte
		var clientID string
		if err := rows.Scan(&rowid, &userCodeHash, &clientID); err != nil {
			return n, last, err
		}
		s.userCodes.remove(userCodeHash, rowid)
		s.live.gone(clientID, rowid)
		n, last = n+1, max(last, rowid)
	}
	return n, last, rows.Err()
}

// sweepPerLimit is how many rows each DeleteExpired looks at in each token
// table, and at most in its second look at the device grants, per row of
// its limit: the server's batches of 500 look at 8 000 a minute.
const sweepPerLimit = 16

// scanChunk bounds the rows one statement of those looks scans: about a
// millisecond of the writer. Between two, the collector yields, so that
// the commits and requests that came meanwhile go first: 8 000 rows in one
// statement held the writer, and with it every commit, 10–15 ms
// (docs/performance.md, item 29).
const scanChunk = 1000

// sweepTokens removes from table (access_tokens or refresh_tokens) the
// tokens whose family is gone among the next scan rows, in hash order,
// after where the previous sweep of that table stopped; past the last row
// the next sweep starts again from the first. Token tables have no index
// on their family (migration 0005): the sweep finds what a cascade would
// have removed, a slice at a time.
func (s *Store) sweepTokens(ctx context.Context, table string, scan int64) error {
	s.sweep.mu.Lock()
	defer s.sweep.mu.Unlock()
	if s.sweep.tokensAfter == nil {
		s.sweep.tokensAfter = make(map[string][]byte)
	}
	for scan > 0 {
		chunk := min(scan, scanChunk)
		scan -= chunk
		// A nil hash is the start: every stored hash is above x''.
		from := s.sweep.tokensAfter[table]
		var to []byte
		var rows int64
		if err := s.writer.QueryRowContext(ctx, `SELECT max(hash), count(*) FROM
			(SELECT hash FROM `+table+` WHERE hash > coalesce(?, x'') ORDER BY hash LIMIT ?)`, from, chunk).Scan(&to, &rows); err != nil {
			return err
		}
		if rows > 0 {
			if _, err := s.writer.ExecContext(ctx, `DELETE FROM `+table+` WHERE hash > coalesce(?, x'') AND hash <= ?
				AND NOT EXISTS (SELECT 1 FROM token_families f WHERE f.id = family_id)`, from, to); err != nil {
				return err
			}
		}
		if rows < chunk {
			s.sweep.tokensAfter[table] = nil
			return nil
		}
		s.sweep.tokensAfter[table] = to
		runtime.Gosched() // see scanChunk
	}
	return nil
}

// Helpers.

// wrap prefixes err with the operation and maps what the contract names:
// no row is store.ErrNotFound, a unique or primary key violation is
// store.ErrAlreadyExists.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	var se *sqlitedriver.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w (%w)", op, store.ErrAlreadyExists, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// execer is a *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// micros is a time as stored: unix microseconds, NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// utc is a time as the store returns it.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// expired reports whether something expiring at exp is expired at now; the
// zero time never expires.
func expired(exp, now time.Time) bool {
	return !exp.IsZero() && !now.Before(exp)
}

// timeCol scans a time column.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column holds %T", v)
	}
	return nil
}

// durationCol scans a microseconds column.
type durationCol struct{ d *time.Duration }

func (c durationCol) Scan(v any) error {
	us, ok := v.(int64)
	if !ok {
		return fmt.Errorf("duration column holds %T", v)
	}
	*c.d = time.Duration(us) * time.Microsecond
	return nil
}

// list is a string list as stored: a JSON array, never NULL.
func list(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s) // a []string always marshals
	return string(b)
}

// listCol scans a list column; an empty list reads back as nil.
type listCol struct{ s *[]string }

func (c listCol) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column holds %T", v)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	if len(out) == 0 {
		out = nil
	}
	*c.s = out
	return nil
}
