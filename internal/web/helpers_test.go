package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"

	"github.com/ssooidc/ssooidc/internal/directory"
	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a whole stack: real SQLite, engine, directory and pages behind a
// real HTTP server.
type env struct {
	srv    *httptest.Server
	st     store.Store
	keys   *secret.Keys
	clock  *clocktest.Clock
	engine *oauth.Engine
	dir    *directory.Directory
	logs   *syncBuffer
}

const startURL = "https://sso.example.com/start"

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "web.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.New([]byte(strings.Repeat("w", secret.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, keys: keys, clock: clocktest.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := http.NewServeMux()
	var n atomic.Int64
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		id := fmt.Sprintf("req-%04d", n.Add(1))
		mux.ServeHTTP(w, r.WithContext(reqinfo.With(r.Context(), reqinfo.Info{ID: id, ClientIP: host})))
	}))
	t.Cleanup(e.srv.Close)
	e.engine = oauth.New(st, keys, oauth.Config{Issuer: e.srv.URL, StartURLs: []string{startURL}}, e.clock.Now, log)
	e.dir = directory.New(st, keys, directory.Config{}, e.clock.Now, log)
	New(e.engine, e.dir, Config{Issuer: e.srv.URL, Now: e.clock.Now, Log: log}).Register(mux)
	return e
}

func (e *env) addUser(t *testing.T, name, password string) {
	t.Helper()
	if _, err := e.dir.AddUser(t.Context(), name, "", "", password); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
}

// deviceClient registers a device-flow client and starts a grant.
func (e *env) startDevice(t *testing.T, clientName string) (oauth.RegisteredClient, oauth.DeviceAuthorization) {
	t.Helper()
	ctx := t.Context()
	c, err := e.engine.RegisterClient(ctx, oauth.RegisterRequest{ClientName: clientName, ClientType: "public", Scopes: []string{"sso:account:access"}})
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	da, err := e.engine.StartDeviceAuthorization(ctx, oauth.StartRequest{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, StartURL: startURL,
		RequestIP: "203.0.113.7", UserAgent: "aws-cli/2.31.0 md/sso#device",
	})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization: %v", err)
	}
	return c, da
}

// poll asks for the device grant's tokens, moving the clock past the
// interval first so it never slows down.
func (e *env) poll(t *testing.T, c oauth.RegisteredClient, da oauth.DeviceAuthorization) (oauth.TokenResponse, error) {
	t.Helper()
	e.clock.Advance(2 * time.Second)
	return e.engine.Token(t.Context(), oauth.TokenRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, GrantType: oauth.GrantDeviceCode, DeviceCode: da.DeviceCode})
}

func kindOf(err error) string {
	if err == nil {
		return "ok"
	}
	return oauth.AsError(err).Kind.RFCCode()
}

// browser is an HTTP client with a cookie jar that never follows
// redirects by itself.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (e *env) browser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: e.srv.URL, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) location() string { return r.header.Get("Location") }

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) url(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return b.base + path
}

func (b *browser) get(path string) response {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.url(path), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form; extra headers come in name, value pairs.
func (b *browser) post(path string, form url.Values, headers ...string) response {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.url(path), strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

// follow follows same-site redirects with GET until a page answers.
func (b *browser) follow(r response) response {
	b.t.Helper()
	for i := 0; r.status >= 300 && r.status < 400; i++ {
		if i == 10 {
			b.t.Fatalf("too many redirects")
		}
		loc := r.location()
		if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
			b.t.Fatalf("follow: redirect to another site: %q", loc)
		}
		r = b.get(loc)
	}
	return r
}

// signIn signs in through the form, starting from the page r (the
// sign-in form), and returns the page after the redirect.
func (b *browser) submitSignIn(r response, user, password string) response {
	b.t.Helper()
	in := inputs(r.body)
	if _, ok := in["csrf_token"]; !ok {
		b.t.Fatalf("sign-in form has no csrf_token; page:\n%s", r.body)
	}
	form := url.Values{"csrf_token": {in["csrf_token"]}, "next": {in["next"]}, "username": {user}, "password": {password}}
	return b.post("/signin", form)
}

func (b *browser) signIn(user, password string) {
	b.t.Helper()
	r := b.submitSignIn(b.get("/signin"), user, password)
	if r.status != http.StatusSeeOther {
		b.t.Fatalf("sign-in: status %d, want 303; page:\n%s", r.status, r.body)
	}
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var (
	inputRE  = regexp.MustCompile(`(?s)<input\b[^>]*>`)
	buttonRE = regexp.MustCompile(`(?s)<button\b[^>]*>`)
	attrRE   = regexp.MustCompile(`([a-zA-Z_-]+)(?:="([^"]*)")?`)
	formRE   = regexp.MustCompile(`(?s)<form\b[^>]*>`)
)

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(strings.TrimSuffix(strings.TrimPrefix(tag, "<"), ">"), -1) {
		m[a[1]] = html.UnescapeString(a[2])
	}
	return m
}

// inputs maps the names of a page's inputs to their values.
func inputs(body string) map[string]string {
	m := map[string]string{}
	for _, tag := range inputRE.FindAllString(body, -1) {
		a := attrs(tag)
		if n, ok := a["name"]; ok {
			m[n] = a["value"]
		}
	}
	return m
}

// buttons lists name=value of a page's submit buttons.
func buttons(body string) []string {
	var out []string
	for _, tag := range buttonRE.FindAllString(body, -1) {
		a := attrs(tag)
		out = append(out, a["name"]+"="+a["value"])
	}
	return out
}

func forms(body string) []map[string]string {
	var out []map[string]string
	for _, tag := range formRE.FindAllString(body, -1) {
		out = append(out, attrs(tag))
	}
	return out
}

// pkce returns a verifier and its S256 challenge (RFC 7636 §4.2).
func pkce() (verifier, challenge string) {
	verifier = strings.Repeat("v", 20) + secret.ID(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}
