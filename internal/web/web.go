// Package web serves the pages a person uses in a browser: typing a device
// code (RFC 8628 §3.3), signing in, approving or denying a device or an
// authorization-code request (RFC 6749 §4.1, RFC 7636) and signing out.
//
// The pages are html/template with embedded files, work without
// JavaScript, and carry a strict Content-Security-Policy. State-changing
// requests are POSTs guarded twice: http.CrossOriginProtection rejects
// cross-origin browser requests, and a hidden csrf_token bound to the
// session cookie (or, before sign-in, to a short-lived pre-session cookie)
// must match.
package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/ssooidc/ssooidc/internal/directory"
	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
	"github.com/ssooidc/ssooidc/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is the pages' policy.
type Config struct {
	// Issuer is the public base URL; cookies are Secure and get the
	// __Host- prefix when it is https.
	Issuer          string
	SessionLifetime time.Duration // cookie Max-Age; default 8h
	Now             func() time.Time
	Log             *slog.Logger
}

// Limits.
const (
	maxFormBytes   = 64 << 10
	maxNextLen     = 8 << 10
	preSessionLife = time.Hour
	defaultNext    = "/device"
)

// Cookie names (without the __Host- prefix added under https) and the
// pre-session value prefix.
const (
	cookieSession    = "ssooidc_session"
	cookiePreSession = "ssooidc_signin"
	prefixPreSession = "sso_ps_"
)

// Handler serves the pages.
type Handler struct {
	engine *oauth.Engine
	dir    *directory.Directory
	cfg    Config
	secure bool
	pages  map[string]*template.Template
	cop    *http.CrossOriginProtection
}

// New returns the pages' handler.
func New(engine *oauth.Engine, dir *directory.Directory, cfg Config) *Handler {
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 8 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		engine: engine,
		dir:    dir,
		cfg:    cfg,
		secure: strings.HasPrefix(strings.ToLower(cfg.Issuer), "https://"),
		pages:  parsePages(),
		cop:    http.NewCrossOriginProtection(),
	}
	h.cop.SetDenyHandler(h.handle(func(http.ResponseWriter, *http.Request) error {
		return errForbidden
	}))
	return h
}

// Register mounts the pages on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET /device", h.handle(h.device))
	mux.Handle("POST /device/decide", h.post(h.deviceDecide))
	mux.Handle("GET /signin", h.handle(h.signinForm))
	mux.Handle("POST /signin", h.post(h.signin))
	mux.Handle("GET /signin/mfa", h.handle(h.signinMFAForm))
	mux.Handle("POST /signin/mfa", h.post(h.signinMFA))
	mux.Handle("GET /mfa", h.handle(h.mfa))
	mux.Handle("POST /mfa", h.post(h.mfaConfirm))
	mux.Handle("GET /signout", h.handle(h.signoutForm))
	mux.Handle("POST /signout", h.post(h.signout))
	mux.Handle("GET /authorize", h.handle(h.authorize))
	// The same endpoint under the OIDC dialect's prefix (oauth2.go).
	mux.Handle("GET /oauth2/authorize", h.handle(h.authorize))
	mux.Handle("POST /oauth2/authorize", h.handle(h.authorizePost))
	mux.Handle("POST /authorize/decide", h.post(h.authorizeDecide))
	mux.Handle("GET /static/{file}", h.handle(h.static))
}

// ---- templates ----

func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err) // the pattern is a constant
	}
	pages := make(map[string]*template.Template)
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		pages[strings.TrimSuffix(base, ".html")] = template.Must(template.New(base).ParseFS(templateFS, "templates/layout.html", n))
	}
	return pages
}

// common is what every page shows.
type common struct {
	Title string
	User  string // the signed-in person, empty when none
}

// render executes a page into a buffer first, so a template error becomes
// an error page rather than half a page.
func (h *Handler) render(w http.ResponseWriter, status int, name string, data any) error {
	t, ok := h.pages[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// ---- the one error writer ----

// pageError is an error the person sees: a status, a title and a message,
// safe to show. cause, if any, is only logged.
type pageError struct {
	status  int
	title   string
	message string
	link    string // where "try again" goes; empty for none
	cause   error
}

func (e *pageError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %v", e.status, e.title, e.cause)
	}
	return fmt.Sprintf("%d %s", e.status, e.title)
}

func (e *pageError) Unwrap() error { return e.cause }

var errForbidden = &pageError{
	status:  http.StatusForbidden,
	title:   "This form has expired",
	message: "The form was sent from another site, or it has expired. Go back, reload the page and try again.",
}

type errorPage struct {
	common
	Message   string
	Link      string
	RequestID string
}

// handle wraps a page handler: security headers first, then the handler;
// a returned error is written by the one error writer.
func (h *Handler) handle(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.securityHeaders(w)
		if err := fn(w, r); err != nil {
			h.writeError(w, r, err)
		}
	})
}

// post wraps a state-changing handler: cross-origin browser requests are
// refused, and the form is parsed from a size-limited body.
func (h *Handler) post(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return h.cop.Handler(h.handle(func(w http.ResponseWriter, r *http.Request) error {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return &pageError{status: http.StatusBadRequest, title: "Bad request", message: "The form could not be read.", cause: err}
		}
		return fn(w, r)
	}))
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	id := reqinfo.From(ctx).ID
	var pe *pageError
	if !errors.As(err, &pe) {
		if errors.Is(err, context.Canceled) {
			h.cfg.Log.InfoContext(ctx, "request cancelled", "request_id", id)
		} else {
			h.cfg.Log.ErrorContext(ctx, "page failed", "request_id", id, "path", r.URL.Path, "err", err)
		}
		pe = &pageError{
			status:  http.StatusInternalServerError,
			title:   "Something went wrong",
			message: "An internal error occurred. Please try again in a moment. If it keeps happening, give your administrator the request id below.",
		}
	} else if pe.cause != nil {
		h.cfg.Log.InfoContext(ctx, "page error", "request_id", id, "path", r.URL.Path, "status", pe.status, "err", pe.cause)
	}
	data := errorPage{common: common{Title: pe.title}, Message: pe.message, Link: pe.link, RequestID: id}
	if rerr := h.render(w, pe.status, "error", data); rerr != nil {
		h.cfg.Log.ErrorContext(ctx, "error page failed", "request_id", id, "err", rerr)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("Internal error. Request id: " + id + "\n"))
	}
}

// ---- headers ----

const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (h *Handler) securityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if h.secure {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// allowFormTarget adds origin to the page's form-action: browsers apply
// form-action to the redirects that follow a form submission, and the
// consent form of an authorization request ends in a redirect to the
// client. origin must be scheme://host[:port].
func allowFormTarget(w http.ResponseWriter, origin string) {
	w.Header().Set("Content-Security-Policy", strings.Replace(csp, "form-action 'self'", "form-action 'self' "+origin, 1))
}

// ---- cookies and sessions ----

func (h *Handler) cookieName(base string) string {
	if h.secure {
		return "__Host-" + base
	}
	return base
}

func (h *Handler) setCookie(w http.ResponseWriter, base, value string, life time.Duration) {
	c := &http.Cookie{
		Name:     h.cookieName(base),
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   h.secure,
		SameSite: http.SameSiteLaxMode,
	}
	if life > 0 {
		c.MaxAge = int(life / time.Second)
		c.Expires = h.cfg.Now().Add(life).UTC()
	} else {
		c.MaxAge = -1
		c.Expires = time.Unix(0, 0).UTC()
	}
	http.SetCookie(w, c)
}

func (h *Handler) cookie(r *http.Request, base string) string {
	c, err := r.Cookie(h.cookieName(base))
	if err != nil {
		return ""
	}
	return c.Value
}

// signedIn is the session of the request, if any.
type signedIn struct {
	cookie   string
	userID   string
	name     string // what the pages call the person
	authTime time.Time
}

// session returns the request's live session, or nil when the browser is
// not signed in (no cookie, an unknown or expired session, a disabled or
// deleted user).
func (h *Handler) session(r *http.Request) (*signedIn, error) {
	v := h.cookie(r, cookieSession)
	if v == "" {
		return nil, nil
	}
	s, u, err := h.dir.Session(r.Context(), v)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	name := u.Name
	if u.DisplayName != "" {
		name = u.DisplayName + " (" + u.Name + ")"
	}
	return &signedIn{cookie: v, userID: u.ID, name: name, authTime: s.AuthTime}, nil
}

// checkCSRF compares the posted csrf_token with the one bound to cookie.
func (h *Handler) checkCSRF(r *http.Request, cookie string) error {
	if cookie == "" {
		return errForbidden
	}
	got := r.PostForm.Get("csrf_token")
	want := h.dir.CSRFToken(cookie)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errForbidden
	}
	return nil
}

// ---- redirects ----

// safeNext returns next when it is a path on this site, else the default:
// it must start with one "/" (not "//" or "/\", which browsers read as
// another host) and hold no control characters (browsers drop tabs and
// newlines, turning "/\t/evil" into "//evil").
func safeNext(next string) string {
	if next == "" || len(next) > maxNextLen || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		return defaultNext
	}
	for i := 0; i < len(next); i++ {
		if next[i] < 0x20 || next[i] == 0x7f {
			return defaultNext
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return defaultNext
	}
	return next
}

// toSignIn sends the browser to the sign-in page, to come back to next.
func toSignIn(w http.ResponseWriter, r *http.Request, next string) error {
	http.Redirect(w, r, "/signin?next="+url.QueryEscape(safeNext(next)), http.StatusSeeOther)
	return nil
}

// ---- static files ----

func (h *Handler) static(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "/") {
		return &pageError{status: http.StatusNotFound, title: "Not found", message: "There is no such page."}
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	return nil
}
