package client_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/client"
)

func TestTokenPathMatchesTheSDKs(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	dir, err := client.DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	cache := client.Cache{Dir: dir}
	for _, key := range []string{"dev", "https://d-0000000000.awsapps.com/start"} {
		want, err := ssocreds.StandardCachedTokenFilepath(key)
		if err != nil {
			t.Fatal(err)
		}
		sess := client.Session{Name: key}
		if strings.HasPrefix(key, "https:") {
			sess = client.Session{StartURL: key}
		}
		if got := cache.TokenPath(sess); got != want {
			t.Errorf("TokenPath(%q) = %s, want %s", key, got, want)
		}
	}
}

// The registration file names below are Python's:
// sha1(json.dumps({...}, sort_keys=True)).
func TestRegistrationPathMatchesTheCLI(t *testing.T) {
	cache := client.Cache{Dir: "/c"}
	for _, tt := range []struct {
		s    client.Session
		want string
	}{
		{client.Session{Name: "dev", StartURL: "https://d-0000000000.awsapps.com/start", Region: "us-east-1", Scopes: []string{"sso:account:access"}},
			"7998edd7e2888a55f724181750a38a164f3df76d"},
		{client.Session{StartURL: "https://x/é", Region: "us-east-1"},
			"7472068d2c40ae5fbaa8afe9aa3ced89e49109e0"},
	} {
		if got := cache.RegistrationPath(tt.s); got != "/c/"+tt.want+".json" {
			t.Errorf("RegistrationPath(%+v) = %s, want %s", tt.s, got, tt.want)
		}
	}
}

func TestCachedTokenFormat(t *testing.T) {
	dir := t.TempDir()
	cache := client.Cache{Dir: filepath.Join(dir, "sso", "cache")}
	tok := &client.CachedToken{
		StartURL:              "https://example.awsapps.com/start",
		Region:                "us-east-1",
		AccessToken:           "at-1",
		ExpiresAt:             time.Date(2026, 11, 28, 0, 1, 33, 600_000_000, time.FixedZone("CET", 3600)),
		ClientID:              "cid-1",
		ClientSecret:          "csecret-1",
		RegistrationExpiresAt: time.Date(2027, 2, 25, 23, 1, 33, 0, time.UTC),
		RefreshToken:          "rt-1",
	}
	if err := cache.WriteToken(devSession, tok); err != nil {
		t.Fatal(err)
	}
	path := cache.TokenPath(devSession)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"startUrl":"https://example.awsapps.com/start","region":"us-east-1","accessToken":"at-1","expiresAt":"2026-11-27T23:01:33Z","clientId":"cid-1","clientSecret":"csecret-1","registrationExpiresAt":"2027-02-25T23:01:33Z","refreshToken":"rt-1"}`
	if string(data) != want {
		t.Errorf("file\n got %s\nwant %s", data, want)
	}
	for p, mode := range map[string]os.FileMode{path: 0o600, cache.Dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), mode)
		}
	}
	if entries, _ := os.ReadDir(cache.Dir); len(entries) != 1 {
		t.Errorf("cache holds %d files, want 1 (no temporary left)", len(entries))
	}
}

func TestCachedTokenKeepsWhatOthersWrote(t *testing.T) {
	cache := client.Cache{Dir: t.TempDir()}
	// As the JavaScript SDK rewrites it: milliseconds, and a member of its own.
	orig := `{"startUrl":"https://s/start","region":"eu-west-1","accessToken":"a","expiresAt":"2026-01-02T03:04:05.678Z","clientId":"c","clientSecret":"s","registrationExpiresAt":"2026-04-02T03:04:05Z","refreshToken":"r","x-other":{"k":[1,2]}}`
	if err := os.WriteFile(cache.TokenPath(devSession), []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := cache.ReadToken(devSession)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC); !tok.ExpiresAt.Equal(want) {
		t.Errorf("expiresAt = %v, want %v", tok.ExpiresAt, want)
	}
	tok.AccessToken = "b"
	tok.RefreshToken = ""
	if err := cache.WriteToken(devSession, tok); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	data, _ := os.ReadFile(cache.TokenPath(devSession))
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"startUrl": "https://s/start", "region": "eu-west-1", "accessToken": "b", "expiresAt": "2026-01-02T03:04:05Z",
		"clientId": "c", "clientSecret": "s", "registrationExpiresAt": "2026-04-02T03:04:05Z",
		"x-other": map[string]any{"k": []any{1.0, 2.0}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rewritten file (-want +got):\n%s", diff)
	}
}

func TestReadTokenErrors(t *testing.T) {
	cache := client.Cache{Dir: t.TempDir()}
	if _, err := cache.ReadToken(devSession); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	for _, bad := range []string{`{`, `{"accessToken":""}`, `{"accessToken":"a","expiresAt":"yesterday"}`} {
		os.WriteFile(cache.TokenPath(devSession), []byte(bad), 0o600)
		if _, err := cache.ReadToken(devSession); err == nil {
			t.Errorf("read %s without error", bad)
		}
	}
	if err := cache.RemoveToken(devSession); err != nil {
		t.Error(err)
	}
	if err := cache.RemoveToken(devSession); err != nil {
		t.Errorf("removing twice: %v", err)
	}
}

func TestLoadSession(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	os.WriteFile(path, []byte(`# a comment
[default]
region = eu-west-1

[profile dev]
sso_session = my-sso
sso_account_id = 111122223333
services = local

[sso-session my-sso]
sso_start_url = https://d-0000000000.awsapps.com/start   ; inline comment
sso_region    = us-east-1
sso_registration_scopes = sso:account:access, ,extra:scope

[sso-session  plain ]
sso_start_url=https://other/start
sso_region=eu-central-1

[services local]
sso_oidc =
  endpoint_url = http://127.0.0.1:8080
`), 0o600)
	got, err := client.LoadSession(path, "my-sso")
	if err != nil {
		t.Fatal(err)
	}
	want := client.Session{Name: "my-sso", StartURL: "https://d-0000000000.awsapps.com/start", Region: "us-east-1", Scopes: []string{"sso:account:access", "extra:scope"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("session (-want +got):\n%s", diff)
	}
	got, err = client.LoadSession(path, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if want := (client.Session{Name: "plain", StartURL: "https://other/start", Region: "eu-central-1"}); !cmp.Equal(want, got) {
		t.Errorf("plain = %+v", got)
	}
	if _, err := client.LoadSession(path, "nope"); !errors.Is(err, client.ErrNoSession) {
		t.Errorf("unknown session: %v", err)
	}
	names, err := client.SessionNames(path)
	if err != nil || !cmp.Equal(names, []string{"my-sso", "plain"}) {
		t.Errorf("SessionNames = %v, %v", names, err)
	}
	if names, err := client.SessionNames(filepath.Join(t.TempDir(), "none")); err != nil || names != nil {
		t.Errorf("SessionNames of a missing file = %v, %v", names, err)
	}
}

func TestRevokeAtThePortal(t *testing.T) {
	var got []string
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("x-amz-sso_bearer_token"))
	}))
	defer portal.Close()
	c, err := client.New(client.Options{Region: "us-east-1", Endpoint: "http://127.0.0.1:1", PortalEndpoint: portal.URL, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(t.Context(), &client.CachedToken{AccessToken: "at-1"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"POST /logout at-1"}; !cmp.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

func TestRevokeWithRFC7009(t *testing.T) {
	var form []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth2/revoke" {
			http.NotFound(w, r)
			return
		}
		r.ParseForm()
		form = []string{r.PostForm.Get("token"), r.PostForm.Get("token_type_hint"), r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")}
	}))
	defer srv.Close()
	c, err := client.New(client.Options{Endpoint: srv.URL, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(t.Context(), &client.CachedToken{AccessToken: "at", RefreshToken: "rt", ClientID: "c", ClientSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"rt", "refresh_token", "c", "s"}; !cmp.Equal(form, want) {
		t.Errorf("form %q, want %q", form, want)
	}
}

func TestEndpoints(t *testing.T) {
	t.Setenv(client.EnvEndpoint, "")
	for _, tt := range []struct {
		region, endpoint, env, want string
	}{
		{region: "eu-west-1", want: "https://oidc.eu-west-1.amazonaws.com"},
		{region: "cn-north-1", want: "https://oidc.cn-north-1.amazonaws.com.cn"},
		{region: "eu-west-1", env: "http://127.0.0.1:8080/", want: "http://127.0.0.1:8080"},
		{region: "eu-west-1", endpoint: "https://sso.example.com/", env: "http://ignored", want: "https://sso.example.com"},
	} {
		t.Setenv(client.EnvEndpoint, tt.env)
		c, err := client.New(client.Options{Region: tt.region, Endpoint: tt.endpoint, CacheDir: "/x"})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Endpoint(); got != tt.want {
			t.Errorf("%+v: endpoint %s, want %s", tt, got, tt.want)
		}
	}
	t.Setenv(client.EnvEndpoint, "")
	if _, err := client.New(client.Options{CacheDir: "/x"}); err == nil {
		t.Error("no region and no endpoint accepted")
	}
	if _, err := client.New(client.Options{Endpoint: "ftp://x", CacheDir: "/x"}); err == nil {
		t.Error("an ftp endpoint accepted")
	}
}

// TestImportsNothingInternal: the public client must stay usable outside
// this module — standard library only.
func TestImportsNothingInternal(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/ssooidc/ssooidc/client").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/ssooidc/ssooidc/client" {
			t.Errorf("client depends on %s", p)
		}
		if strings.Contains(p, "/internal/") {
			t.Errorf("client imports internal package %s", p)
		}
	}
}
