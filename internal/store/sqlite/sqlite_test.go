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
