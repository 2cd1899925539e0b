package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/storetest"
)

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	})
}

var t0 = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

func testUser() store.User {
	return store.User{ID: "u1", Name: "alice", Email: "alice@example.test", CreatedAt: t0, UpdatedAt: t0}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ssooidc.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := testUser()
	if err := s.CreateUser(ctx, want); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if _, err := s.PutSettingIfAbsent(ctx, "key_fingerprint", "abc"); err != nil {
		t.Fatalf("PutSettingIfAbsent: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openTest(t, path)
	got, err := s.GetUser(ctx, want.ID)
	if err != nil {
		t.Fatalf("GetUser after reopen: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetUser after reopen mismatch (-want +got):\n%s", diff)
	}
	if v, err := s.GetSetting(ctx, "key_fingerprint"); err != nil || v != "abc" {
		t.Errorf("GetSetting after reopen = %q, %v; want %q, nil", v, err, "abc")
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if v != LatestSchemaVersion() {
		t.Errorf("SchemaVersion = %d, want %d", v, LatestSchemaVersion())
	}
	var applied int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatalf("count migrations: %v", err)
	}
	if applied != LatestSchemaVersion() {
		t.Errorf("schema_migrations rows = %d, want %d (each migration recorded once)", applied, LatestSchemaVersion())
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ssooidc.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	future := LatestSchemaVersion() + 1
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, future); err != nil {
		t.Fatalf("insert future version: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = Open(ctx, path)
	if err == nil {
		s.Close()
		t.Fatalf("Open(newer schema) succeeded, want an error")
	}
	var tooNew *SchemaTooNewError
	if !errors.As(err, &tooNew) {
		t.Fatalf("Open(newer schema) error = %v, want a *SchemaTooNewError", err)
	}
	if tooNew.Version != future || tooNew.Supported != LatestSchemaVersion() {
		t.Errorf("SchemaTooNewError = %+v, want Version %d, Supported %d", tooNew, future, LatestSchemaVersion())
	}
	if want := "is newer than this binary supports"; !strings.Contains(err.Error(), want) {
		t.Errorf("Open(newer schema) error = %q, want it to contain %q", err, want)
	}
}

func TestBackup(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openTest(t, filepath.Join(dir, "ssooidc.db"))
	want := testUser()
	if err := s.CreateUser(ctx, want); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	dest := filepath.Join(dir, "backup.db")
	if err := s.Backup(ctx, dest); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	// The live store carries on.
	if err := s.CreateUser(ctx, store.User{ID: "u2", Name: "bob", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatalf("CreateUser after backup: %v", err)
	}
	if err := s.Backup(ctx, dest); err == nil {
		t.Errorf("Backup over an existing file succeeded, want an error")
	}

	b := openTest(t, dest)
	got, err := b.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers(backup): %v", err)
	}
	if diff := cmp.Diff([]store.User{want}, got); diff != "" {
		t.Errorf("backup users mismatch (-want +got):\n%s", diff)
	}
}

// TestPragmas checks that every connection of both pools, not just the
// first, runs with the settings the package relies on.
func TestPragmas(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	check := func(name string, conn *sql.Conn, queryOnly int) {
		t.Helper()
		for _, p := range []struct {
			pragma string
			want   string
		}{
			{"journal_mode", "wal"},
			{"synchronous", "1"}, // NORMAL
			{"foreign_keys", "1"},
			{"busy_timeout", "5000"},
			{"query_only", map[int]string{0: "0", 1: "1"}[queryOnly]},
		} {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", name, p.pragma, err)
			}
			if got != p.want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", name, p.pragma, got, p.want)
			}
		}
	}
	// Hold every reader at once so the pool must open all of them.
	var conns []*sql.Conn
	for range readers {
		c, err := s.reader.Conn(ctx)
		if err != nil {
			t.Fatalf("reader Conn: %v", err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		check(fmt.Sprintf("reader %d", i), c, 1)
		c.Close()
	}
	w, err := s.writer.Conn(ctx)
	if err != nil {
		t.Fatalf("writer Conn: %v", err)
	}
	check("writer", w, 0)
	var autoCheckpoint int
	if err := w.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&autoCheckpoint); err != nil || autoCheckpoint != 0 {
		t.Errorf("writer: PRAGMA wal_autocheckpoint = %d (%v), want 0: only the checkpointer checkpoints", autoCheckpoint, err)
	}
	w.Close()
}

func TestOpenPath(t *testing.T) {
	ctx := t.Context()
	for _, bad := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if s, err := Open(ctx, bad); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", bad)
		}
	}

	// Characters that mean something in a URI stay part of the file name.
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "my db.sqlite")
	s := openTest(t, path)
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not at %q: %v", path, err)
	}
}

func TestMigrations(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatalf("migrations: %v", err)
	}
	if len(ms) == 0 || LatestSchemaVersion() != len(ms) {
		t.Errorf("LatestSchemaVersion = %d with %d migrations", LatestSchemaVersion(), len(ms))
	}
}

// TestAlreadyExistsKeepsCause checks that the mapping to the sentinel keeps
// the driver's message for the log.
func TestAlreadyExistsKeepsCause(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	if err := s.CreateUser(ctx, testUser()); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	err := s.CreateUser(ctx, testUser())
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser(duplicate) error = %v, want %v", err, store.ErrAlreadyExists)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "sqlite: create user: ") || !strings.Contains(msg, "UNIQUE") {
		t.Errorf("CreateUser(duplicate) error = %q, want the operation and the driver's cause", msg)
	}
}

// TestSweepTokens: token tables have no index on their family, so
// DeleteExpired removes the tokens of families that are gone by sweeping
// them a slice at a time, in rowid order, starting over past the end;
// the tokens of live families stay.
func TestSweepTokens(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	far := t0.Add(24 * time.Hour).UnixMicro()
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO token_families
		(id, client_id, user_id, scopes, auth_time, created_at, expires_at) VALUES ('live', 'c1', 'u1', '[]', 0, 0, ?)`, far); err != nil {
		t.Fatal(err)
	}
	// 30 tokens in each table, every third of the live family; the others'
	// family was collected (it is not there).
	for i := range 30 {
		family := "gone"
		if i%3 == 0 {
			family = "live"
		}
		if _, err := s.writer.ExecContext(ctx, `INSERT INTO access_tokens (hash, family_id, created_at, expires_at)
			VALUES (?, ?, 0, ?)`, fmt.Appendf(nil, "a%02d", i), family, far); err != nil {
			t.Fatal(err)
		}
		if _, err := s.writer.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, rotated_at)
			VALUES (?, ?, 0, ?, NULL)`, fmt.Appendf(nil, "r%02d", i), family, far); err != nil {
			t.Fatal(err)
		}
	}
	count := func(table string) (live, gone int) {
		t.Helper()
		if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE family_id = 'live'),
			count(*) FILTER (WHERE family_id = 'gone') FROM `+table).Scan(&live, &gone); err != nil {
			t.Fatal(err)
		}
		return live, gone
	}
	// A limit of 1 looks at sweepPerLimit (16) rows of each table per
	// call, in hash order: rows 1–16 (10 of them gone), then 17–30, and
	// the next starts again from the first row.
	for call, wantGone := range []int{20 - 10, 0} {
		if _, err := s.DeleteExpired(ctx, t0, 0, 1); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"access_tokens", "refresh_tokens"} {
			if live, gone := count(table); live != 10 || gone != wantGone {
				t.Errorf("after sweep %d, %s holds %d live and %d gone tokens; want 10 and %d", call+1, table, live, gone, wantGone)
			}
		}
	}
	if after := s.sweep.tokensAfter["refresh_tokens"]; after != nil {
		t.Errorf("the next sweep starts after hash %q, want the first row", after)
	}
}

// TestSweepInChunks: a DeleteExpired whose look is longer than scanChunk
// takes it in several statements, and covers the same rows: a limit of 100
// looks at 1 600 rows of 2 600 (1 000, then 600), and the next call at
// the other 1 000, then starts over.
func TestSweepInChunks(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	const rows, limit = 2600, 100
	if scan := sweepPerLimit * limit; scan <= scanChunk || scan >= rows {
		t.Fatalf("a look of %d rows does not test chunks of %d in %d rows", scan, scanChunk, rows)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		// Every token's family is gone.
		if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, rotated_at)
			VALUES (?, 'gone', 0, 0, NULL)`, fmt.Appendf(nil, "r%05d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	left := func() (n int) {
		t.Helper()
		if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for call, want := range []int{rows - sweepPerLimit*limit, 0} {
		if _, err := s.DeleteExpired(ctx, t0, 0, limit); err != nil {
			t.Fatal(err)
		}
		if n := left(); n != want {
			t.Errorf("after call %d: %d tokens left, want %d", call+1, n, want)
		}
	}
	if after := s.sweep.tokensAfter["refresh_tokens"]; after != nil {
		t.Errorf("the next sweep starts after hash %q, want the first row", after)
	}
}

// TestTokensKeptByMigration5: a database of schema 4, whose token tables
// referenced their family, keeps its tokens through migration 5, which
// drops the reference and the family index, and migration 8, which keeps
// the tables in hash order (WITHOUT ROWID).
func TestTokensKeptByMigration5(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ssooidc.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, false, "NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:4] {
		if _, err := db.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, 0)`, m.version); err != nil {
			t.Fatal(err)
		}
	}
	far := t0.Add(time.Hour).UnixMicro()
	for _, q := range []string{
		`INSERT INTO token_families (id, client_id, user_id, scopes, auth_time, created_at, expires_at) VALUES ('f1', 'c1', 'u1', '["openid"]', 1, 1, ?)`,
		`INSERT INTO access_tokens (hash, family_id, created_at, expires_at) VALUES (x'aa', 'f1', 1, ?)`,
		`INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, rotated_at) VALUES (x'bb', 'f1', 1, ?, NULL)`,
	} {
		if _, err := db.ExecContext(ctx, q, far); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := openTest(t, path)
	if a, f, err := s.GetAccessToken(ctx, []byte{0xaa}); err != nil || f.ID != "f1" || a.ExpiresAt.UnixMicro() != far {
		t.Errorf("GetAccessToken after migration = %+v, %+v, %v", a, f, err)
	}
	if r, f, err := s.GetRefreshToken(ctx, []byte{0xbb}); err != nil || f.ID != "f1" || !r.RotatedAt.IsZero() {
		t.Errorf("GetRefreshToken after migration = %+v, %+v, %v", r, f, err)
	}
	for _, table := range []string{"access_tokens", "refresh_tokens"} {
		var fks, familyIndexes int
		if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_list(?)`, table).Scan(&fks); err != nil {
			t.Fatal(err)
		}
		if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM pragma_index_list(?) l, pragma_index_info(l.name) i
			WHERE i.name = 'family_id'`, table).Scan(&familyIndexes); err != nil {
			t.Fatal(err)
		}
		if fks != 0 || familyIndexes != 0 {
			t.Errorf("%s: %d foreign keys, %d indexes on family_id; want none", table, fks, familyIndexes)
		}
		var withoutRowid bool
		if err := s.reader.QueryRowContext(ctx, `SELECT wr FROM pragma_table_list(?)`, table).Scan(&withoutRowid); err != nil {
			t.Fatal(err)
		}
		if !withoutRowid {
			t.Errorf("%s has a rowid; want WITHOUT ROWID", table)
		}
	}
}

// TestUserCodeIndex: the in-memory user code index is rebuilt from the
// table when the database is opened again, and a grant removed by
// DeleteExpired leaves it, so its code can be given out again.
func TestUserCodeIndex(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ssooidc.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.CreateDeviceGrant(ctx, grantN(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, path)
	for i := range 3 {
		if g, err := s.GetDeviceGrantByUserCode(ctx, grantN(i).UserCodeHash); err != nil || string(g.DeviceCodeHash) != string(grantN(i).DeviceCodeHash) {
			t.Errorf("after reopening, GetDeviceGrantByUserCode(%d) = %x, %v", i, g.DeviceCodeHash, err)
		}
	}
	taken := grantN(10)
	taken.UserCodeHash = grantN(1).UserCodeHash
	if err := s.CreateDeviceGrant(ctx, taken); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("after reopening, a taken user code: %v, want ErrAlreadyExists", err)
	}
	if _, err := s.DecideDeviceGrant(ctx, grantN(2).UserCodeHash, "u1", true, t0); err != nil {
		t.Errorf("DecideDeviceGrant after reopening: %v", err)
	}

	// Every grant expires at t0+10m.
	if n, err := s.DeleteExpired(ctx, t0.Add(time.Hour), 0, 100); err != nil || n != 3 {
		t.Fatalf("DeleteExpired = %d, %v; want 3", n, err)
	}
	if _, err := s.GetDeviceGrantByUserCode(ctx, grantN(1).UserCodeHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDeviceGrantByUserCode(deleted) error = %v, want ErrNotFound", err)
	}
	if n := s.userCodes.rows.len(); n != 0 {
		t.Errorf("the index still holds %d grants", n)
	}
	if err := s.CreateDeviceGrant(ctx, taken); err != nil {
		t.Errorf("the user code of a deleted grant: %v", err)
	}
}

// TestUserCodeIndexPastLow32Bits: the index holds a rowid as a 32-bit
// offset from the lowest one; grants whose offsets pass 2^32 are each
// found, as created and when the index is built from the table.
func TestUserCodeIndexPastLow32Bits(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ssooidc.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	// The lowest rowid is 1, the next grant's 2^32 - 2 (the largest plus
	// one): the fourth's offset is 2^32.
	for _, rowid := range []int64{1, 4294967293} {
		if _, err := s.writer.ExecContext(ctx, `INSERT INTO device_grants (rowid, `+deviceGrantCols+`)
			SELECT ?, ?, ?, 'c1', '[]', '', 'pending', 1000000, 0, 0, NULL, NULL, '', NULL, '', ''`,
			rowid, fmt.Appendf(nil, "dc%d", rowid), fmt.Appendf(nil, "uc%d", rowid)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if err := s.CreateDeviceGrant(ctx, grantN(i)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		for i := range 4 {
			g, err := s.GetDeviceGrantByUserCode(ctx, grantN(i).UserCodeHash)
			if err != nil || string(g.DeviceCodeHash) != string(grantN(i).DeviceCodeHash) {
				t.Errorf("%s: GetDeviceGrantByUserCode(%d) = %q, %v", when, i, g.DeviceCodeHash, err)
			}
		}
	}
	check("as created")
	var maxRowid int64
	if err := s.reader.QueryRowContext(ctx, `SELECT max(rowid) FROM device_grants`).Scan(&maxRowid); err != nil || maxRowid != 1<<32+1 {
		t.Fatalf("largest rowid %d, %v; want 2^32+1", maxRowid, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	check("after reopening")
	if _, err := s.DecideDeviceGrant(ctx, grantN(3).UserCodeHash, "u1", true, t0); err != nil {
		t.Errorf("DecideDeviceGrant(rowid 2^32+1): %v", err)
	}
}

// TestUserCodeIndexCollisions: two user codes whose 32-bit keys are the
// same are both stored and found, each apart from the other; a code is
// refused only when a grant has that very code.
func TestUserCodeIndexCollisions(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	if _, _, err := s.userCodes.lookup(ctx, s, []byte("build")); err != nil {
		t.Fatal(err)
	}
	// Two user code hashes with the same key under this index's seed.
	seen := map[uint32][]byte{}
	var a, b []byte
	for i := 0; a == nil; i++ {
		h := fmt.Appendf(nil, "user-code-%d", i)
		k := s.userCodes.key(h)
		if other, ok := seen[k]; ok {
			a, b = other, h
		}
		seen[k] = h
	}
	ga, gb := grantN(1), grantN(2)
	ga.UserCodeHash, gb.UserCodeHash = a, b
	gb.ExpiresAt = t0.Add(time.Hour) // outlives ga
	for _, g := range []store.DeviceGrant{ga, gb} {
		if err := s.CreateDeviceGrant(ctx, g); err != nil {
			t.Fatalf("CreateDeviceGrant(%s): %v", g.UserCodeHash, err)
		}
	}
	found := func(g store.DeviceGrant) bool {
		t.Helper()
		got, err := s.GetDeviceGrantByUserCode(ctx, g.UserCodeHash)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil && string(got.DeviceCodeHash) == string(g.DeviceCodeHash)
	}
	if !found(ga) || !found(gb) {
		t.Fatalf("found %v and %v, want both", found(ga), found(gb))
	}
	again := grantN(3)
	again.UserCodeHash = b
	if err := s.CreateDeviceGrant(ctx, again); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("a taken code whose key another code has: %v, want ErrAlreadyExists", err)
	}
	if n, err := s.DeleteExpired(ctx, t0.Add(30*time.Minute), 0, 100); err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
	}
	if found(ga) || !found(gb) {
		t.Errorf("after the first expired: found %v and %v, want only the second", found(ga), found(gb))
	}
	again.UserCodeHash = a
	if err := s.CreateDeviceGrant(ctx, again); err != nil {
		t.Errorf("the code of the expired grant: %v", err)
	}
	if !found(again) || !found(gb) {
		t.Errorf("found %v and %v, want both", found(again), found(gb))
	}
}
