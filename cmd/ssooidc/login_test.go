package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"

	"github.com/ssooidc/ssooidc/internal/server/servertest"
)

// These tests run the built ssooidc binary as a person would, in a
// temporary HOME, against a whole server on a loopback port; servertest's
// Browser drives the pages over HTTP.

const (
	testStartURL = "https://d-0000000000.awsapps.com/start"
	testUser     = "alice"
	testPassword = "correct horse battery staple"
)

// clientHome is a HOME with an ~/.aws/config naming sso-session "dev" and
// a profile using it.
func clientHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".aws"), 0o700)
	cfg := `[profile dev]
sso_session = dev
sso_account_id = 111122223333
sso_role_name = ReadOnly
region = us-east-1

[sso-session dev]
sso_start_url = ` + testStartURL + `
sso_region = us-east-1
sso_registration_scopes = sso:account:access
`
	if err := os.WriteFile(filepath.Join(home, ".aws", "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

func clientEnv(home, endpoint string) []string {
	var env []string
	for _, kv := range cleanEnv() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "BROWSER=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "AWS_ENDPOINT_URL_SSO_OIDC="+endpoint, "AWS_EC2_METADATA_DISABLED=true")
}

// runClient runs ssooidc with exactly env and waits for it.
func runClient(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{out.String(), errOut.String(), code}
}

// running is a started ssooidc whose stderr is read line by line.
type running struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *bytes.Buffer
	stdout *bytes.Buffer
	done   chan struct{}
}

func startClient(t *testing.T, env []string, args ...string) *running {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &running{cmd: cmd, lines: make(chan string, 1000), stderr: &bytes.Buffer{}, stdout: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout = r.stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			r.stderr.WriteString(sc.Text() + "\n")
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return r
}

// waitFor reads stderr until a line matches re and returns the submatches.
func (r *running) waitFor(t *testing.T, re string) []string {
	t.Helper()
	return waitForLine(t, r.lines, re, func() string { return "stderr so far:\n" + r.stderr.String() })
}

// wait waits for the exit and returns the exit code.
func (r *running) wait(t *testing.T) int {
	t.Helper()
	for range r.lines {
	}
	<-r.done
	err := r.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func startClientServer(t *testing.T) *servertest.Server {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	return s
}

// pkceLogin runs `ssooidc login --session dev --no-browser`, opens the
// printed URL in the test's browser and decides.
func pkceLogin(t *testing.T, s *servertest.Server, home string, allow bool) (code int, stderr string) {
	t.Helper()
	r := startClient(t, clientEnv(home, s.URL), "login", "--session", "dev", "--no-browser")
	u := r.waitFor(t, `^\s+(http://\S+/authorize\?\S+)$`)[1]
	s.NewBrowser(t).Decide(u, testUser, testPassword, allow)
	code = r.wait(t)
	return code, r.stderr.String()
}

func readCache(t *testing.T, home, name string) (path string, m map[string]any) {
	t.Helper()
	t.Setenv("HOME", home)
	path, err := ssocreds.StandardCachedTokenFilepath(name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the token cache: %v", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return path, m
}

// sdkBearerToken asks aws-sdk-go-v2 for the profile's bearer token the way
// an SDK program does: shared config → sso-session → SSO token provider →
// the cache file.
func sdkBearerToken(t *testing.T, home, endpoint string) string {
	t.Helper()
	t.Setenv("HOME", home)
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithSharedConfigFiles([]string{filepath.Join(home, ".aws", "config")}),
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(home, ".aws", "credentials")}),
		awsconfig.WithSharedConfigProfile("dev"),
		awsconfig.WithSSOTokenProviderOptions(func(o *ssocreds.SSOTokenProviderOptions) {
			o.ClientOptions = append(o.ClientOptions, func(o *ssooidc.Options) { o.BaseEndpoint = aws.String(endpoint) })
		}),
	)
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	if cfg.BearerAuthTokenProvider == nil {
		t.Fatal("the SDK resolved no bearer token provider for the sso-session profile")
	}
	tok, err := cfg.BearerAuthTokenProvider.RetrieveBearerToken(ctx)
	if err != nil {
		t.Fatalf("RetrieveBearerToken: %v", err)
	}
	return tok.Value
}

func TestLoginThenTheSDKUsesTheToken(t *testing.T) {
	s := startClientServer(t)
	home := clientHome(t)
	code, stderr := pkceLogin(t, s, home, true)
	if code != 0 {
		t.Fatalf("login: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "Signed in to "+testStartURL) {
		t.Errorf("stderr:\n%s", stderr)
	}
	path, m := readCache(t, home, "dev")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode: %v, %v", fi.Mode(), err)
	}
	if !strings.Contains(stderr, path) {
		t.Errorf("stderr does not name %s:\n%s", path, stderr)
	}
	for _, k := range []string{"expiresAt", "registrationExpiresAt"} {
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(m[k].(string)) {
			t.Errorf("%s = %q, not %%Y-%%m-%%dT%%H:%%M:%%SZ", k, m[k])
		}
	}
	if m["startUrl"] != testStartURL || m["region"] != "us-east-1" || m["refreshToken"] == nil || m["clientId"] == nil {
		t.Errorf("token file: %v", m)
	}
	if got := sdkBearerToken(t, home, s.URL); got != m["accessToken"] {
		t.Errorf("the SDK read token %q, the cache holds %q", got, m["accessToken"])
	}

	// `ssooidc token` prints the same, still valid token.
	r := runClient(t, clientEnv(home, s.URL), "token", "--session", "dev")
	if r.code != 0 || strings.TrimSpace(r.stdout) != m["accessToken"] {
		t.Errorf("token: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestDeviceCodeLogin(t *testing.T) {
	s := startClientServer(t)
	home := clientHome(t)
	r := startClient(t, clientEnv(home, s.URL), "login", "--use-device-code", "--no-browser")
	userCode := r.waitFor(t, `^\s+([A-Z]{4}-[A-Z]{4})$`)[1]
	link := r.waitFor(t, `^\s+(http://\S+/device\?user_code=\S+)$`)[1]
	if !strings.Contains(link, userCode) {
		t.Errorf("link %s lacks the code %s", link, userCode)
	}
	s.NewBrowser(t).Decide(link, testUser, testPassword, true)
	// The server's clock stands still in tests: move it past the poll
	// interval so the next poll is not "too fast".
	s.Clock.Advance(10 * time.Second)
	if code := r.wait(t); code != 0 {
		t.Fatalf("login: exit %d\n%s", code, r.stderr)
	}
	if !strings.Contains(r.stderr.String(), "Waiting for approval of "+userCode) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	_, m := readCache(t, home, "dev")
	if got := sdkBearerToken(t, home, s.URL); got != m["accessToken"] {
		t.Errorf("the SDK read token %q, the cache holds %q", got, m["accessToken"])
	}
}

func TestTokenRefreshesAnExpiredToken(t *testing.T) {
	s := startClientServer(t)
	home := clientHome(t)
	if code, stderr := pkceLogin(t, s, home, true); code != 0 {
		t.Fatalf("login: exit %d\n%s", code, stderr)
	}
	path, m := readCache(t, home, "dev")
	old := m["accessToken"].(string)
	m["expiresAt"] = time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05Z")
	data, _ := json.Marshal(m)
	os.WriteFile(path, data, 0o600)

	r := runClient(t, clientEnv(home, s.URL), "token", "--session", "dev")
	if r.code != 0 {
		t.Fatalf("token: exit %d, stderr %q", r.code, r.stderr)
	}
	got := strings.TrimSpace(r.stdout)
	if got == old || got == "" || strings.Contains(r.stdout, " ") {
		t.Fatalf("token printed %q (old %q)", r.stdout, old)
	}
	_, m2 := readCache(t, home, "dev")
	if m2["accessToken"] != got || m2["refreshToken"] == m["refreshToken"] {
		t.Errorf("cache after refresh: %v", m2)
	}
	if exp, _ := time.Parse(time.RFC3339, m2["expiresAt"].(string)); time.Until(exp) < 50*time.Minute {
		t.Errorf("refreshed expiresAt %v", m2["expiresAt"])
	}
	// The AWS SDK sees the refreshed token.
	if sdk := sdkBearerToken(t, home, s.URL); sdk != got {
		t.Errorf("the SDK read %q, want %q", sdk, got)
	}
}

func TestLogout(t *testing.T) {
	s := startClientServer(t)
	home := clientHome(t)
	if code, stderr := pkceLogin(t, s, home, true); code != 0 {
		t.Fatalf("login: exit %d\n%s", code, stderr)
	}
	path, _ := readCache(t, home, "dev")
	env := clientEnv(home, s.URL)
	r := runClient(t, env, "logout")
	// Until the server offers POST /logout, the token is removed locally
	// and the command says the server could not revoke it.
	if r.code != 0 || !(strings.Contains(r.stderr, "the server revoked the token") || strings.Contains(r.stderr, "does not support revocation")) {
		t.Errorf("logout: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("token file after logout: %v", err)
	}
	r = runClient(t, env, "logout", "--session", "dev")
	if r.code != 0 || !strings.Contains(r.stderr, "Not signed in") {
		t.Errorf("second logout: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runClient(t, env, "token", "--session", "dev")
	if r.code != exitExpired || !strings.Contains(r.stderr, "ssooidc login --session dev") {
		t.Errorf("token after logout: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestLoginFailures(t *testing.T) {
	s := startClientServer(t)

	t.Run("denied", func(t *testing.T) {
		code, stderr := pkceLogin(t, s, clientHome(t), false)
		if code != exitDenied || !strings.Contains(stderr, "denied") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		closed := "http://" + freePort(t)
		r := runClient(t, clientEnv(t.TempDir(), closed),
			"login", "--start-url", testStartURL, "--region", "eu-west-1", "--no-browser")
		if r.code != exitUnreachable || !strings.Contains(r.stderr, "cannot reach the SSO OIDC endpoint "+closed) {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("no session", func(t *testing.T) {
		r := runClient(t, clientEnv(t.TempDir(), s.URL), "login")
		if r.code != exitUsage || !strings.Contains(r.stderr, "--session") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("unknown session", func(t *testing.T) {
		r := runClient(t, clientEnv(clientHome(t), s.URL), "token", "--session", "nope")
		if r.code != exitUsage || !strings.Contains(r.stderr, "no [sso-session nope]") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("not logged in", func(t *testing.T) {
		r := runClient(t, clientEnv(clientHome(t), s.URL), "token")
		if r.code != exitExpired || !strings.Contains(r.stderr, "login required") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("legacy login needs a region", func(t *testing.T) {
		r := runClient(t, clientEnv(t.TempDir(), s.URL), "login", "--start-url", testStartURL)
		if r.code != exitUsage || !strings.Contains(r.stderr, "--region") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestLoginHelpDocumentsExitCodes(t *testing.T) {
	for _, c := range []string{"login", "token", "logout"} {
		r := run(t, t.TempDir(), "", c, "--help")
		for _, want := range []string{"Exit codes:", "3  the sign-in was denied", "5  the SSO OIDC endpoint cannot be reached"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s --help lacks %q:\n%s", c, want, r.stdout)
			}
		}
	}
}

func TestDrawQR(t *testing.T) {
	// A 3×3 "code": dark corners and centre.
	dark := func(x, y int) bool { return (x+y)%2 == 0 }
	var b strings.Builder
	drawQR(&b, 3, dark)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 { // (3 + 2×2 quiet) rows, two per line
		t.Fatalf("%d lines, want 4:\n%q", len(lines), b.String())
	}
	// Every line is 7 half blocks wide and resets its colours.
	for i, l := range lines {
		if n := strings.Count(l, "▀"); n != 7 || !strings.HasSuffix(l, "\033[0m") {
			t.Errorf("line %d: %d blocks: %q", i, n, l)
		}
	}
	// Line 1 holds rows 2 and 3: module (0,0) dark above light (0,1).
	if !strings.Contains(lines[1], "\033[30;107m▀") {
		t.Errorf("line 1 lacks a dark-over-light block: %q", lines[1])
	}
	// The last line is the lower quiet zone over the terminal background.
	if !strings.Contains(lines[3], "\033[97;49m") {
		t.Errorf("last line: %q", lines[3])
	}
}

// TestQRCode checks the encoder behind writeQR: a version 1–10 symbol
// (21–57 modules) with the three finder patterns, drawn two rows a line.
func TestQRCode(t *testing.T) {
	const link = "http://127.0.0.1:8080/device?user_code=BCDF-GHJK"
	size, dark, err := qrCode(link)
	if err != nil {
		t.Fatal(err)
	}
	if size < 21 || size > 57 || (size-17)%4 != 0 {
		t.Fatalf("size %d is not a QR version 1-10", size)
	}
	// A finder pattern: a dark 7×7 ring, a light ring, a dark 3×3 centre.
	finder := func(x0, y0 int) {
		for y := 0; y < 7; y++ {
			for x := 0; x < 7; x++ {
				ring := x == 0 || y == 0 || x == 6 || y == 6
				centre := x >= 2 && x <= 4 && y >= 2 && y <= 4
				if want := ring || centre; dark(x0+x, y0+y) != want {
					t.Fatalf("finder at (%d,%d): module (%d,%d) dark=%v", x0, y0, x, y, !want)
				}
			}
		}
	}
	finder(0, 0)
	finder(size-7, 0)
	finder(0, size-7)
	var b strings.Builder
	if err := writeQR(&b, link); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(b.String(), "\n"), (size+4+1)/2; got != want {
		t.Errorf("%d lines, want %d", got, want)
	}
}
