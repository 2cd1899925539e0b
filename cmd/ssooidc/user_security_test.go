package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

// TestUserSecurityCommands: unlock, revoke, mfa require/reset and status
// work on the database a server uses, and every one lands in the audit
// trail that `ssooidc audit list` reads.
func TestUserSecurityCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sec.db")
	ok := func(r result) result {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		return r
	}
	ok(run(t, dir, "a long passphrase\n", "user", "add", "alice", "--password-stdin", "--db", db))

	// Lock alice as repeated failed sign-ins would.
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.GetUserByName(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordSignInFailure(context.Background(), u.ID, time.Now(), 1); err != nil {
		t.Fatal(err)
	}
	st.Close()

	if out := ok(run(t, dir, "", "user", "status", "alice", "--db", db)).stdout; !regexp.MustCompile(`locked\s+since `).MatchString(out) {
		t.Errorf("status of a locked user:\n%s", out)
	}
	ok(run(t, dir, "", "user", "unlock", "alice", "--db", db))
	ok(run(t, dir, "", "user", "mfa", "require", "alice", "--db", db))
	out := ok(run(t, dir, "", "user", "status", "alice", "--db", db)).stdout
	for _, re := range []string{`locked\s+no`, `failed sign-ins\s+0`, `second factor\s+none`, `second factor required\s+yes`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("status lacks %s:\n%s", re, out)
		}
	}
	ok(run(t, dir, "", "user", "mfa", "reset", "alice", "--db", db))
	ok(run(t, dir, "", "user", "mfa", "require", "alice", "--off", "--db", db))
	ok(run(t, dir, "", "user", "revoke", "alice", "--db", db))
	for _, args := range [][]string{{"unlock", "nobody"}, {"revoke", "nobody"}, {"mfa", "reset", "nobody"}, {"status", "nobody"}} {
		if r := run(t, dir, "", append(append([]string{"user"}, args...), "--db", db)...); r.code != 1 {
			t.Errorf("user %v: exit %d, want 1", args, r.code)
		}
	}

	trail := ok(run(t, dir, "", "audit", "list", "--user", "alice", "--db", db)).stdout
	for _, want := range []string{"user.added", "user.unlocked", "mfa.required", "mfa.reset", "user.revoked"} {
		if !regexp.MustCompile(`(?m)^\S+\s+` + regexp.QuoteMeta(want) + `\s+alice\s`).MatchString(trail) {
			t.Errorf("audit list lacks %s for alice:\n%s", want, trail)
		}
	}
	if strings.Contains(trail, "a long passphrase") {
		t.Error("the audit trail holds a password")
	}
	if out := ok(run(t, dir, "", "audit", "list", "--since", "1h", "--limit", "2", "--db", db)).stdout; strings.Count(out, "\n") != 3 {
		t.Errorf("audit list --limit 2 printed:\n%s", out)
	}
	if out := ok(run(t, dir, "", "audit", "list", "--since", "2099-01-01", "--db", db)).stdout; strings.Count(out, "\n") != 1 {
		t.Errorf("audit list --since the future printed:\n%s", out)
	}
	if r := run(t, dir, "", "audit", "list", "--since", "yesterday-ish", "--db", db); r.code != 2 {
		t.Errorf("bad --since: exit %d, want 2", r.code)
	}
}
