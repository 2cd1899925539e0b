// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema in the database that the SSOOIDC_TEST_POSTGRES environment variable
// names, dropped when the test ends. Tests that call it are skipped when the
// variable is unset.
//
//	SSOOIDC_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./...
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the variable holding the test database's connection string.
const EnvVar = "SSOOIDC_TEST_POSTGRES"

// URL creates a schema named ssooidc_test_<random> in the test database and
// returns a connection string whose search_path selects it, so every store
// opened with it (several replicas, if the test wants) shares that schema
// and nothing else. The schema is dropped, with everything in it, when the
// test and its subtests finish: close stores in t.Cleanup functions
// registered after calling URL (they run first). It skips the test when
// SSOOIDC_TEST_POSTGRES is unset.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		t.Skip(EnvVar + " is not set; skipping PostgreSQL tests")
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	schema := "ssooidc_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exec(ctx, t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		exec(ctx, t, base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	})
	u, err := WithParam(base, "search_path", schema)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvVar, err)
	}
	return u
}

// WithParam returns the connection string connString with the run-time
// parameter key set to value (replacing any), in whichever form, URL or
// key=value pairs, connString is. value must not need quoting in the
// key=value form (no spaces, quotes or backslashes).
func WithParam(connString, key, value string) (string, error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return strings.TrimSpace(connString) + " " + key + "=" + value, nil
}

// exec runs one statement on a connection of its own.
func exec(ctx context.Context, t testing.TB, connString, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}
