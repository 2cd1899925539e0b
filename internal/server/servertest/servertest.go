// Package servertest runs a whole ssooidc server on a loopback port for
// end-to-end tests, with an injectable clock, a real SQLite store, and a
// Browser that drives the real pages over HTTP with a cookie jar.
package servertest

import (
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"

	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/server"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Clock is the settable clock shared by the server under test.
type Clock = clocktest.Clock

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return clocktest.New(t) }

// TestKey is the master key test servers use unless told otherwise.
var TestKey = []byte("ssooidc-test-key-0123456789abcdef")

// Server is a running test server.
type Server struct {
	URL    string
	Clock  *Clock
	Store  store.Store
	Server *server.Server
	Config config.Config
	DBPath string

	stop func()
}

// Option adjusts the server before it starts.
type Option func(*options)

type options struct {
	cfg   config.Config
	clock *Clock
}

// WithDB uses the given database (a SQLite path or postgres:// URL) instead
// of a fresh file.
func WithDB(db string) Option { return func(o *options) { o.cfg.DB = db } }

// WithClock shares a clock between servers (replicas in one test).
func WithClock(c *Clock) Option { return func(o *options) { o.clock = c } }

// WithConfig lets a test change any setting.
func WithConfig(fn func(*config.Config)) Option { return func(o *options) { fn(&o.cfg) } }

// Start runs a server on 127.0.0.1 with a random port until the test ends.
// The clock starts at the real current time, truncated to the second.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := options{cfg: config.Default()}
	o.cfg.DB = filepath.Join(t.TempDir(), "ssooidc.db")
	o.cfg.StartURLs = []string{"https://d-0000000000.awsapps.com/start"}
	// Longer than the 5 s after which http.Server.Shutdown counts a
	// connection that never sent a request as idle: Chromium opens such
	// connections ahead of use, and one opened just before the end would
	// otherwise outlast a 5 s grace.
	o.cfg.ShutdownGrace = config.Duration(10 * time.Second)
	for _, opt := range opts {
		opt(&o)
	}
	if o.clock == nil {
		o.clock = NewClock(time.Now().UTC().Truncate(time.Second))
	}
	return startWith(t, o.cfg, o.clock)
}

// Restart stops s and starts a new server on the same database and clock.
func (s *Server) Restart(t testing.TB) *Server {
	t.Helper()
	s.Stop()
	cfg := s.Config
	cfg.Issuer = ""
	return startWith(t, cfg, s.Clock)
}

func startWith(t testing.TB, cfg config.Config, clock *Clock) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	base := "http://" + ln.Addr().String()
	if cfg.Issuer == "" {
		cfg.Issuer = base
	}
	cfg.Addr = ln.Addr().String()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx := context.Background()
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	keys, err := secret.New(TestKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.CheckKey(ctx, st, keys); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("SSOOIDC_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := server.New(server.Options{Config: cfg, Store: st, Keys: keys, Now: clock.Now, Log: log})
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	var once sync.Once
	s := &Server{URL: base, Clock: clock, Store: st, Server: srv, Config: cfg, DBPath: cfg.DB}
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			if err := st.Close(); err != nil {
				t.Errorf("close store: %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// Stop shuts the server down (also done at the end of the test).
func (s *Server) Stop() { s.stop() }

// AddUser creates a user with a password.
func (s *Server) AddUser(t testing.TB, name, password string) store.User {
	t.Helper()
	u, err := s.Server.Directory().AddUser(context.Background(), name, name+"@example.com", "User "+name, password)
	if err != nil {
		t.Fatalf("add user %s: %v", name, err)
	}
	return u
}

// Browser is a person's browser: a cookie jar, no JavaScript, redirects
// followed (also to a client's loopback callback).
type Browser struct {
	t      testing.TB
	Client *http.Client
	// LastRedirect is the last redirect to another host (the
	// authorization code flow's callback).
	LastRedirect *url.URL
}

// NewBrowser returns a browser for server s.
func (s *Server) NewBrowser(t testing.TB) *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &Browser{t: t}
	serverHost := strings.TrimPrefix(s.URL, "http://")
	b.Client = &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != serverHost {
				b.LastRedirect = req.URL
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
	return b
}

// Page is a fetched page.
type Page struct {
	URL    *url.URL
	Status int
	Body   string
	Header http.Header
}

// Get fetches a page.
func (b *Browser) Get(rawURL string) *Page {
	b.t.Helper()
	resp, err := b.Client.Get(rawURL)
	if err != nil {
		b.t.Fatalf("GET %s: %v", rawURL, err)
	}
	return b.read(resp)
}

func (b *Browser) read(resp *http.Response) *Page {
	b.t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("read %s: %v", resp.Request.URL, err)
	}
	return &Page{URL: resp.Request.URL, Status: resp.StatusCode, Body: string(body), Header: resp.Header}
}

// Form is an HTML form found on a page.
type Form struct {
	Action string
	Method string
	Fields url.Values
	// Buttons maps a submit button's name to its values.
	Buttons map[string][]string
}

var (
	formRE   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRE  = regexp.MustCompile(`(?is)<(input|button)\b([^>]*)>`)
	attrRE   = regexp.MustCompile(`(?is)([a-z_-]+)\s*=\s*"([^"]*)"`)
	hiddenRE = regexp.MustCompile(`(?i)type\s*=\s*"(submit)"`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(s, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

// Forms parses the page's forms.
func (p *Page) Forms() []Form {
	var out []Form
	for _, f := range formRE.FindAllStringSubmatch(p.Body, -1) {
		fa := attrs(f[1])
		form := Form{Action: fa["action"], Method: strings.ToUpper(fa["method"]), Fields: url.Values{}, Buttons: map[string][]string{}}
		if form.Method == "" {
			form.Method = http.MethodGet
		}
		for _, in := range inputRE.FindAllStringSubmatch(f[2], -1) {
			a := attrs(in[2])
			name := a["name"]
			if name == "" {
				continue
			}
			if strings.EqualFold(in[1], "button") || hiddenRE.MatchString(in[2]) {
				form.Buttons[name] = append(form.Buttons[name], a["value"])
				continue
			}
			form.Fields.Set(name, a["value"])
		}
		out = append(out, form)
	}
	return out
}

// FormWith returns the first form that has a field or button named name.
func (p *Page) FormWith(name string) (Form, bool) {
	for _, f := range p.Forms() {
		if _, ok := f.Fields[name]; ok {
			return f, true
		}
		if _, ok := f.Buttons[name]; ok {
			return f, true
		}
	}
	return Form{}, false
}

// Submit sends a form with the given fields set (and a button's value).
func (b *Browser) Submit(p *Page, f Form, set url.Values) *Page {
	b.t.Helper()
	vals := url.Values{}
	for k, v := range f.Fields {
		vals[k] = append([]string(nil), v...)
	}
	for k, v := range set {
		vals[k] = v
	}
	target, err := p.URL.Parse(f.Action)
	if err != nil {
		b.t.Fatalf("form action %q: %v", f.Action, err)
	}
	var resp *http.Response
	if f.Method == http.MethodPost {
		req, err := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(vals.Encode()))
		if err != nil {
			b.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// What a browser sends for a same-origin form post.
		req.Header.Set("Origin", p.URL.Scheme+"://"+p.URL.Host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err = b.Client.Do(req)
		if err != nil {
			b.t.Fatalf("POST %s: %v", target, err)
		}
	} else {
		target.RawQuery = vals.Encode()
		resp, err = b.Client.Get(target.String())
		if err != nil {
			b.t.Fatalf("GET %s: %v", target, err)
		}
	}
	return b.read(resp)
}

// SignInIfAsked fills the sign-in form when the page shows one.
func (b *Browser) SignInIfAsked(p *Page, user, password string) *Page {
	b.t.Helper()
	f, ok := p.FormWith("password")
	if !ok {
		return p
	}
	return b.Submit(p, f, url.Values{"username": {user}, "password": {password}})
}

// Decide opens a consent URL (verificationUriComplete or an /authorize URL),
// signs in when asked, and clicks allow or deny. It returns the final page.
func (b *Browser) Decide(consentURL, user, password string, allow bool) *Page {
	b.t.Helper()
	p := b.SignInIfAsked(b.Get(consentURL), user, password)
	f, ok := p.FormWith("action")
	if !ok {
		b.t.Fatalf("no consent form at %s (status %d):\n%s", p.URL, p.Status, p.Body)
	}
	action := "deny"
	if allow {
		action = "allow"
	}
	return b.Submit(p, f, url.Values{"action": {action}})
}
