package awsapi

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

// openTestStore opens the real SQLite backend on a file of its own.
func openTestStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "ssooidc.db"))
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	return st
}
