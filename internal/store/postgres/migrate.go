package postgres

import (
	"bufio"
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// migrationFiles are the schema changes, NNNN_name.sql, numbered from 1
// without gaps. Each runs in a transaction of its own, so a file must not
// contain statements PostgreSQL refuses in one (CREATE INDEX CONCURRENTLY,
// VACUUM), and each declares "-- compatible-with: N" (see the package doc).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrateLockKey is the PostgreSQL advisory lock (pg_advisory_lock(bigint))
// a replica holds while it checks and migrates the schema: the FNV-1a hash
// of "ssooidc migrate" (-3151000818157103812). It is the same for every schema of a database, so
// installations sharing a database also take turns; migrating is quick.
var migrateLockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("ssooidc migrate"))
	return int64(h.Sum64())
}()

// compatibleWith is the header a migration file declares its compatibility
// in.
const compatibleWith = "-- compatible-with:"

type migration struct {
	version        int
	name           string
	sql            string
	compatibleWith int // the oldest binary schema version that runs on the result
}

// SchemaTooNewError is Open's refusal of a database migrated by a newer
// ssooidc that declared this binary too old to run against it.
type SchemaTooNewError struct {
	Version       int // the database's schema version
	MinCompatible int // the oldest binary schema version the database accepts
	Supported     int // the newest schema version this binary knows
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this binary supports (%d; the schema requires at least %d); upgrade ssooidc",
		e.Version, e.Supported, e.MinCompatible)
}

// LatestSchemaVersion is the schema version this binary migrates to.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		panic(err) // the embedded files are broken: a build defect, caught by the tests
	}
	return len(ms)
}

// SchemaVersion returns the database's schema version: the newest migration
// applied, which may be newer than LatestSchemaVersion during a rolling
// upgrade.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.run(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	})
	if err != nil {
		return 0, wrap("schema version", err)
	}
	return v, nil
}

// migrations returns the embedded migrations in order, checking that they
// are numbered 1..N and declare a compatible version no newer than their
// own.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var ms []migration
	for _, path := range names {
		name := strings.TrimPrefix(path, "migrations/")
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migrations: %s: name is not NNNN_name.sql", name)
		}
		b, err := migrationFiles.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		compat, err := parseCompatibleWith(string(b))
		if err != nil {
			return nil, fmt.Errorf("migrations: %s: %w", name, err)
		}
		if compat < 1 || compat > v {
			return nil, fmt.Errorf("migrations: %s: compatible-with %d is not in 1..%d", name, compat, v)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b), compatibleWith: compat})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations: %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// parseCompatibleWith finds the "-- compatible-with: N" line among the
// comment lines that open a migration.
func parseCompatibleWith(sql string) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(sql))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "--") {
			break
		}
		if rest, ok := strings.CutPrefix(line, compatibleWith); ok {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil {
				return 0, fmt.Errorf("bad %q line: %q", compatibleWith, line)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no %q line in the leading comments", compatibleWith)
}

// migrate checks the schema of the database cfg connects to and applies the
// migrations it has not seen, on a session of its own that holds the
// migration lock throughout: replicas starting together migrate once.
// Closing the session releases the lock, whatever happened.
func migrate(ctx context.Context, cfg *pgx.ConnConfig) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	// Migrating may take longer than a request's statement; Open's context
	// bounds it instead.
	cfg.RuntimeParams["statement_timeout"] = "0"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()

	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version         integer NOT NULL PRIMARY KEY,
		applied_at      bigint  NOT NULL,
		compatible_with integer NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current, minCompatible int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0), coalesce(max(compatible_with), 0)
		FROM schema_migrations`).Scan(&current, &minCompatible); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if minCompatible > len(ms) {
		return &SchemaTooNewError{Version: current, MinCompatible: minCompatible, Supported: len(ms)}
	}
	for _, m := range ms[min(current, len(ms)):] {
		err := pgx.BeginTxFunc(ctx, conn, readCommitted, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			// applied_at is the server's clock in unix microseconds: a
			// record for operators, never compared.
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at, compatible_with)
				VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, $2)`,
				m.version, m.compatibleWith)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", m.name, err)
		}
	}
	// Closing the session would release the lock too; unlocking first
	// lets a waiting replica go on without waiting for the session's end.
	_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, migrateLockKey)
	return nil
}
