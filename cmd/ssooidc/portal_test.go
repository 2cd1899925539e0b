package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPortalCommands administers accounts, groups and assignments through
// the real binary, as an operator would.
func TestPortalCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "portal.db")
	ok := func(r result) result {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		return r
	}
	fails := func(r result, code int, stderr string) {
		t.Helper()
		if r.code != code || !strings.Contains(r.stderr, stderr) {
			t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, code, stderr)
		}
	}
	contains := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	}
	ok(run(t, dir, "a long passphrase\n", "user", "add", "alice", "--password-stdin", "--db", db))
	ok(run(t, dir, "a long passphrase\n", "user", "add", "bob", "--password-stdin", "--db", db))

	ok(run(t, dir, "", "account", "add", "111122223333", "--name", "Production", "--email", "aws-prod@example.com", "--db", db))
	ok(run(t, dir, "", "account", "add", "444455556666", "--name", "Sandbox", "--db", db))
	fails(run(t, dir, "", "account", "add", "111122223333", "--name", "Again", "--db", db), 1, "already exists")
	fails(run(t, dir, "", "account", "add", "1234", "--name", "Short", "--db", db), 1, "not 12 digits")
	fails(run(t, dir, "", "account", "add", "777788889999", "--db", db), 2, "--name is required")
	contains(ok(run(t, dir, "", "account", "list", "--db", db)).stdout, "111122223333", "Production", "aws-prod@example.com", "444455556666", "Sandbox")

	ok(run(t, dir, "", "group", "add", "devs", "--db", db))
	ok(run(t, dir, "", "group", "add-member", "devs", "alice", "--db", db))
	ok(run(t, dir, "", "group", "add-member", "devs", "bob", "--db", db))
	fails(run(t, dir, "", "group", "add-member", "devs", "carol", "--db", db), 1, `no user "carol"`)
	contains(ok(run(t, dir, "", "group", "list", "--db", db)).stdout, "devs")
	ok(run(t, dir, "", "group", "remove-member", "devs", "bob", "--db", db))
	if out := ok(run(t, dir, "", "group", "members", "devs", "--db", db)).stdout; out != "alice\n" {
		t.Errorf("group members = %q, want alice", out)
	}

	ok(run(t, dir, "", "assign", "--user", "alice", "--account", "111122223333", "--role", "ReadOnly", "--duration", "2h", "--db", db))
	r := ok(run(t, dir, "", "assign", "--group", "devs", "--account", "444455556666", "--role", "Admin", "--duration", "24h", "--db", db))
	contains(r.stdout, "outside what STS allows", "using 12h0m0s")
	fails(run(t, dir, "", "assign", "--account", "111122223333", "--role", "ReadOnly", "--db", db), 2, "--user USER or --group GROUP")
	fails(run(t, dir, "", "assign", "--user", "alice", "--group", "devs", "--account", "111122223333", "--role", "X", "--db", db), 2, "not both")
	fails(run(t, dir, "", "assign", "--user", "alice", "--role", "ReadOnly", "--db", db), 2, "--account ID and --role ROLE are required")
	fails(run(t, dir, "", "assign", "--user", "alice", "--account", "999999999999", "--role", "ReadOnly", "--db", db), 1, "no account 999999999999")

	list := ok(run(t, dir, "", "assign", "list", "--db", db)).stdout
	for _, re := range []string{`111122223333\s+ReadOnly\s+user alice\s+2h0m0s`, `444455556666\s+Admin\s+group devs\s+12h0m0s`} {
		if !regexp.MustCompile(re).MatchString(list) {
			t.Errorf("assign list does not match %s:\n%s", re, list)
		}
	}
	if out := ok(run(t, dir, "", "assign", "list", "--group", "devs", "--db", db)).stdout; strings.Contains(out, "ReadOnly") {
		t.Errorf("assign list --group devs shows alice's role:\n%s", out)
	}
	ok(run(t, dir, "", "assign", "remove", "--group", "devs", "--account", "444455556666", "--role", "Admin", "--db", db))
	fails(run(t, dir, "", "assign", "remove", "--group", "devs", "--account", "444455556666", "--role", "Admin", "--db", db), 1, "no assignment")

	// Static credentials need the master key and read the secret from
	// standard input.
	key := ok(run(t, dir, "", "keys", "generate")).stdout
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "ssooidc.yaml")
	if err := os.WriteFile(cfg, []byte("db: "+db+"\nsecret_key_file: "+filepath.Join(dir, "key")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fails(run(t, dir, "secret\n", "account", "set-credentials", "111122223333", "--access-key-id", "AKIDEXAMPLE", "--db", db), 2, "--secret-stdin")
	fails(run(t, dir, "secret\n", "account", "set-credentials", "111122223333", "--access-key-id", "AKIDEXAMPLE", "--secret-stdin", "--db", db), 1, "no secret key")
	r = ok(run(t, dir, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nsession-token\n", "account", "set-credentials", "111122223333",
		"--role", "ReadOnly", "--access-key-id", "AKIDEXAMPLE", "--secret-stdin", "--config", cfg))
	contains(r.stdout, "not for production")
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "wJalrXUtnFEMI") || strings.Contains(string(raw), "session-token") {
		t.Error("the database file holds the secret in clear")
	}
	ok(run(t, dir, "", "account", "clear-credentials", "111122223333", "--role", "ReadOnly", "--config", cfg))
	fails(run(t, dir, "", "account", "clear-credentials", "111122223333", "--role", "ReadOnly", "--config", cfg), 1, "no stored credentials")

	// Removing an account removes its assignments.
	ok(run(t, dir, "", "account", "remove", "111122223333", "--db", db))
	if out := ok(run(t, dir, "", "assign", "list", "--db", db)).stdout; strings.Contains(out, "111122223333") {
		t.Errorf("assignments of a removed account remain:\n%s", out)
	}
	ok(run(t, dir, "", "group", "remove", "devs", "--db", db))
	fails(run(t, dir, "", "group", "members", "devs", "--db", db), 1, `no group "devs"`)
}
