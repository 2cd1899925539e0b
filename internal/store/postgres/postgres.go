// Package postgres is the store.Store backend for PostgreSQL, for running
// several ssooidc replicas against one database. It is driven by
// github.com/jackc/pgx/v5 through a pgxpool connection pool and selected with
// --db postgres://….
//
// # Connection
//
// Open takes a libpq/pgx connection string, as a URL
// (postgres://user:pass@host:5432/db?sslmode=verify-full) or as key=value
// pairs. Every setting pgx understands passes through: sslmode, sslrootcert,
// sslcert, sslkey (TLS), connect_timeout, target_session_attrs, the pool_*
// settings of pgxpool, and any other parameter becomes a run-time parameter
// of each session (search_path, application_name, …). pgx's defaults apply
// to what the string leaves out, so sslmode defaults to prefer. Options then
// sets, unless the string already does:
//
//   - the pool size: Options.MaxConns, default 16 (pool_max_conns in the
//     string is kept when Options.MaxConns is 0);
//   - the statement timeout: Options.StatementTimeout, default 5s, set as
//     each session's statement_timeout (a statement_timeout parameter in the
//     string is kept when Options.StatementTimeout is 0; a negative value
//     disables it);
//   - application_name "ssooidc", which names the replica's sessions in
//     pg_stat_activity.
//
// Behind a connection pooler, use session pooling: migrating holds a
// session-level advisory lock, and pgx caches prepared statements per
// session.
//
// A replica that loses the database answers errors; the pool reconnects by
// itself when the database is back. An operation that fails because the
// server terminated its session (a fast shutdown or restart, a
// pg_terminate_backend, idle_session_timeout), or because the connection
// broke before anything was sent, is run again on a fresh connection (at
// most 3 runs), after closing the pool's other sessions, which are most
// likely dead too: such a failure guarantees that nothing was committed, so
// a retry cannot apply an operation twice. Any other failure, such as a
// connection that broke mid-operation, is returned as is. Everything an
// operation acknowledged was committed with the server's durability
// settings, except poll timestamps (see below).
//
// # Schema and data
//
// Times are bigint unix microseconds in UTC (NULL for the zero time, and a
// NULL ExpiresAt never expires), durations bigint microseconds, hashes
// bytea, string lists text[] (never NULL) and user names are compared and
// ordered in byte order (COLLATE "C"): the same representation as the SQLite
// backend, so that both behave identically at the contract's microsecond
// precision. Nothing refers to clients or users by foreign key; tokens
// belong to their family (ON DELETE CASCADE).
//
// Atomic operations are one statement or one READ COMMITTED transaction that
// takes row locks, never a SERIALIZABLE transaction that could fail under
// contention: PollDeviceGrant is one UPDATE … RETURNING whose right-hand
// sides all read the row as it was (concurrent polls queue on the row lock
// and re-read it), RedeemDeviceGrant moves the grant out of approved with an
// UPDATE guarded by its status in the transaction that writes the tokens,
// and ConsumeAuthCode and RotateRefreshToken lock the code, or the family
// and then the token, with SELECT … FOR NO KEY UPDATE before deciding. So
// single use holds across replicas, and independent refresh chains never
// wait for one another. A poll's commit does not wait for its WAL flush
// (synchronous_commit off for that transaction only): a crash may forget the
// last poll times, which harms no one; everything else is fully durable.
//
// DeleteExpired removes rows in batches of at most limit per table, each
// batch one short statement that skips rows another session holds (FOR
// UPDATE SKIP LOCKED), so that replicas collecting at the same time neither
// block each other nor wait on rows in use.
//
// Backups are pg_dump's business.
//
// # Migrations and rolling upgrades
//
// The schema is the embedded migrations/NNNN_name.sql files, numbered from 1.
// Open applies those the database has not seen, in order, each in its own
// transaction, recorded in schema_migrations(version, applied_at,
// compatible_with), on one dedicated session that holds a PostgreSQL
// advisory lock (a fixed key, the FNV-1a hash of "ssooidc migrate") while it
// checks and migrates: replicas starting together migrate once, the others
// wait and then find nothing to do. Migration statements run without
// statement timeout (Open's context bounds them).
//
// Each migration file declares, in a leading comment line
//
//	-- compatible-with: N
//
// the oldest schema version a binary may know and still run against the
// schema once this migration is applied. Migrations are written
// expand-then-contract so that two consecutive releases can run side by side
// during a rolling upgrade: a release only adds (tables, nullable or
// defaulted columns, indexes) and declares compatibility with the previous
// release's version; removing what the previous release still used waits for
// a later release. The database's minimum compatible version is the highest
// value declared by the migrations applied to it. Open refuses, with a
// *SchemaTooNewError, a database whose minimum compatible version is above
// this binary's LatestSchemaVersion; a binary older than the schema but not
// older than its minimum compatible version runs, without migrating.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ssooidc/ssooidc/internal/store"
)

var _ store.Store = (*Store)(nil)

// Defaults for Options' zero values.
const (
	DefaultMaxConns         = 16
	DefaultStatementTimeout = 5 * time.Second
	defaultApplicationName  = "ssooidc"
)

// attempts bounds how often an operation runs when its session turns out to
// have been terminated before it ran.
const attempts = 3

// Options tunes the connection pool. The zero value gives the defaults.
type Options struct {
	// MaxConns is the pool's size: 0 keeps pool_max_conns from the
	// connection string, else DefaultMaxConns.
	MaxConns int32
	// StatementTimeout aborts any statement that runs longer (the
	// statement_timeout setting of each session): 0 keeps statement_timeout
	// from the connection string, else DefaultStatementTimeout; negative
	// disables it.
	StatementTimeout time.Duration
}

// Store is a store.Store on a PostgreSQL database. It is safe for concurrent
// use.
type Store struct {
	pool *pgxpool.Pool

	// The grant inserter (grantbatch.go).
	inserts      chan *grantInsert
	closing      chan struct{}
	closeOnce    sync.Once
	inserterDone chan struct{}
}

// readCommitted is every transaction's isolation, whatever the database's
// default_transaction_isolation says: the methods rely on row locks, and
// must not surface serialization failures.
var readCommitted = pgx.TxOptions{IsoLevel: pgx.ReadCommitted}

// Open connects to the database connString names, brings its schema up to
// date under the migration lock and returns the store. It refuses a schema
// this binary is too old for (*SchemaTooNewError).
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgconn redacts the password from its parse errors.
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(connString, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	params := cfg.ConnConfig.RuntimeParams
	_, setInString := params["statement_timeout"]
	switch {
	case opts.StatementTimeout < 0:
		params["statement_timeout"] = "0"
	case opts.StatementTimeout > 0:
		params["statement_timeout"] = strconv.FormatInt(max(opts.StatementTimeout.Milliseconds(), 1), 10)
	case !setInString:
		params["statement_timeout"] = strconv.FormatInt(DefaultStatementTimeout.Milliseconds(), 10)
	}
	if params["application_name"] == "" {
		params["application_name"] = defaultApplicationName
	}

	if err := migrate(ctx, cfg.ConnConfig.Copy()); err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", describe(cfg.ConnConfig), err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", describe(cfg.ConnConfig), err)
	}
	s := &Store{pool: pool, inserts: make(chan *grantInsert), closing: make(chan struct{}), inserterDone: make(chan struct{})}
	go s.insertLoop()
	return s, nil
}

// describe names the database for messages, without credentials.
func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.inserterDone
		s.pool.Close()
	})
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.run(ctx, s.pool.Ping))
}

// run calls fn, and calls it again on a fresh connection while it fails
// because its session was gone before it did anything (connectionLost),
// up to attempts times in all.
func (s *Store) run(ctx context.Context, fn func(context.Context) error) error {
	for i := 1; ; i++ {
		err := fn(ctx)
		if err == nil || i == attempts || ctx.Err() != nil || !connectionLost(err) {
			return err
		}
		// One terminated session usually means all of them were (a
		// restart, a failover): drop the idle ones rather than meet them
		// one failure at a time. Sessions in use close when returned.
		s.pool.Reset()
	}
}

// tx runs fn in a READ COMMITTED transaction, committed when fn returns nil,
// with run's retries.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.run(ctx, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, s.pool, readCommitted, fn)
	})
}

// connectionLost reports whether err says that the operation failed because
// its session was unusable, in a way that guarantees nothing it did was
// committed:
//   - pgx found the connection broken before sending anything;
//   - the server terminated the session (admin_shutdown: a fast shutdown,
//     pg_terminate_backend, a failover tool; idle_session_timeout). A
//     backend acts on such a termination only at an interrupt check, which
//     comes before the commit or after the commit's answer was sent, never
//     in between: when the FATAL message is the answer, the transaction was
//     rolled back (if the session was killed while idle in the pool, the
//     operation never even started).
//
// A connection that breaks without a word (a crash, an immediate shutdown, a
// network cut) after the operation was sent is not retried: it may have
// committed.
func connectionLost(err error) bool {
	if pgconn.SafeToRetry(err) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && severity(pe) == "FATAL" {
		switch pe.Code {
		case "57P01", // admin_shutdown
			"57P05": // idle_session_timeout
			return true
		}
	}
	return false
}

// severity is the error's severity in English (Severity may be translated).
func severity(pe *pgconn.PgError) string {
	if pe.SeverityUnlocalized != "" {
		return pe.SeverityUnlocalized
	}
	return pe.Severity
}

// Settings.

// GetSetting returns the value of key, or store.ErrNotFound.
func (s *Store) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.run(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	})
	if err != nil {
		return "", wrap("get setting", err)
	}
	return v, nil
}

// PutSettingIfAbsent stores value unless key is set, and returns the value
// now stored.
func (s *Store) PutSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	// The no-op update makes RETURNING yield the existing row on conflict,
	// so the answer comes from the same statement as the insert, and a
	// concurrent insert of the same key waits for the first and returns it.
	var v string
	err := s.run(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = settings.value
			RETURNING value`, key, value).Scan(&v)
	})
	if err != nil {
		return "", wrap("put setting", err)
	}
	return v, nil
}

// Maintenance.

// DeleteExpired removes at most limit rows of each kind whose removal time
// is before now. Each kind is one statement that deletes a batch of due rows
// no other session holds; tokens go with their family (ON DELETE CASCADE)
// and are not counted. A limit below 1 removes nothing.
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
		// ctid = ANY(ARRAY(…)) is a TID scan of the rows the subquery
		// locked; SKIP LOCKED leaves rows in use (and the batch another
		// replica is deleting) alone.
		var n int64
		err := s.run(ctx, func(ctx context.Context) error {
			tag, err := s.pool.Exec(ctx, `DELETE FROM `+k.table+` WHERE ctid = ANY(ARRAY(
				SELECT ctid FROM `+k.table+` WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`,
				k.before, limit)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, wrap("delete expired "+k.table, err)
		}
		total += int(n)
	}
	return total, nil
}

// Helpers.

// wrap prefixes err with the operation and maps what the contract names:
// no row is store.ErrNotFound, a unique or primary key violation is
// store.ErrAlreadyExists (keeping the server's message for the log).
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("postgres: %s: %w (%w)", op, store.ErrAlreadyExists, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
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

func (c timeCol) ScanInt64(v pgtype.Int8) error {
	if !v.Valid {
		*c.t = time.Time{}
		return nil
	}
	*c.t = time.UnixMicro(v.Int64).UTC()
	return nil
}

// durationCol scans a microseconds column.
type durationCol struct{ d *time.Duration }

func (c durationCol) ScanInt64(v pgtype.Int8) error {
	if !v.Valid {
		return errors.New("duration column is NULL")
	}
	*c.d = time.Duration(v.Int64) * time.Microsecond
	return nil
}

// list is a string list as stored: a text[], never NULL.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// listCol scans a text[] column into a []string; NULL and the empty array
// read back as nil.
type listCol struct{ s *[]string }

func (c listCol) SetDimensions(dims []pgtype.ArrayDimension) error {
	n := 0
	if len(dims) > 0 {
		n = 1
		for _, d := range dims {
			n *= int(d.Length)
		}
	}
	if n == 0 {
		*c.s = nil
		return nil
	}
	*c.s = make([]string, n)
	return nil
}

func (c listCol) ScanIndex(i int) any { return &(*c.s)[i] }

func (c listCol) ScanIndexType() any { return new(string) }

// PoolStats reports the connection pool for metrics: connections open,
// idle, in use, and the most allowed.
func (s *Store) PoolStats() (total, idle, acquired, max int32) {
	st := s.pool.Stat()
	return st.TotalConns(), st.IdleConns(), st.AcquiredConns(), st.MaxConns()
}
