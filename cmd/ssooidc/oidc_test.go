package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testKeyEnv is a fixed master key for the commands under test.
var testKeyEnv = []string{"SSOOIDC_SECRET_KEY=" + strings.Repeat("ab", 32)}

func TestKeysRotateAndList(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "keys.db")
	ok := func(args ...string) string {
		t.Helper()
		r := runWithEnv(t, dir, testKeyEnv, append(args, "--db", db)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	if out := ok("keys", "list"); strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "KID") {
		t.Errorf("keys list on a new database = %q, want only the header", out)
	}
	created := regexp.MustCompile(`(?m)^created signing key ([A-Za-z0-9_-]{43}) \((RS256|ES256)\); it signs from \S+Z$`)
	first := created.FindStringSubmatch(ok("keys", "rotate"))
	if first == nil || first[2] != "RS256" {
		t.Fatalf("keys rotate did not report an RS256 key: %v", first)
	}
	out := ok("keys", "rotate", "--algorithm", "ES256")
	second := created.FindStringSubmatch(out)
	if second == nil || second[2] != "ES256" || second[1] == first[1] {
		t.Fatalf("keys rotate --algorithm ES256 = %q", out)
	}
	list := ok("keys", "list")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^` + second[1] + `\s+ES256\s+\S+\s+\S+\s+-\s+next$`),
		regexp.MustCompile(`(?m)^` + first[1] + `\s+RS256\s+\S+\s+\S+\s+\S+Z\s+signing$`),
	} {
		if !want.MatchString(list) {
			t.Errorf("keys list lacks %s:\n%s", want, list)
		}
	}

	// Another master key cannot read (or add to) this database.
	r := runWithEnv(t, dir, []string{"SSOOIDC_SECRET_KEY=" + strings.Repeat("cd", 32)}, "keys", "rotate", "--db", db)
	if r.code == 0 || !strings.Contains(r.stderr, "secret key does not match") {
		t.Errorf("rotate with another key: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestClientAdd(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "clients.db")
	r := runWithEnv(t, dir, testKeyEnv, "client", "add", "web app", "--redirect-uri", "https://app.example.test/callback", "--scope", "openid", "--db", db)
	if r.code != 0 {
		t.Fatalf("client add: exit %d: %s", r.code, r.stderr)
	}
	want := regexp.MustCompile(`^added client web app\nclient_id:     [A-Za-z0-9_-]{24}\nclient_secret: sso_cs_[A-Za-z0-9_-]{43}\n`)
	if !want.MatchString(r.stdout) {
		t.Errorf("client add printed %q", r.stdout)
	}
	for _, bad := range [][]string{
		{"client", "add", "web", "--redirect-uri", "http://app.example.test/callback"}, // http off loopback
		{"client", "add", "web"}, // the code grant needs a redirect URI
		{"client", "add", "cli", "--grant-type", "password"},
	} {
		r := runWithEnv(t, dir, testKeyEnv, append(bad, "--db", db)...)
		if r.code == 0 || strings.Contains(r.stderr, "Exception") {
			t.Errorf("%v: exit %d, stderr %q; want a plain error", bad, r.code, r.stderr)
		}
	}
	if r := runWithEnv(t, dir, testKeyEnv, "client", "add", "tv", "--grant-type", "device_code", "--grant-type", "refresh_token", "--db", db); r.code != 0 {
		t.Errorf("a device-only client: exit %d: %s", r.code, r.stderr)
	}
}
