// Package server is the composition root: it wires the store into the
// engine and directory, mounts the AWS dialect and the pages on one mux,
// adds the middleware (request id, client address, access log, panic
// recovery), health probes and the collector of expired rows, and runs the
// HTTP server with graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/ssooidc/ssooidc/internal/awsapi"
	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/directory"
	"github.com/ssooidc/ssooidc/internal/keys"
	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/ratelimit"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/web"
)

// Options are what a server is built from.
type Options struct {
	Config config.Config // validated; Issuer set
	Store  store.Store
	Keys   *secret.Keys
	Now    func() time.Time // time.Now when nil
	Log    *slog.Logger
}

// Server is one ssooidc instance.
type Server struct {
	cfg       config.Config
	store     store.Store
	log       *slog.Logger
	now       func() time.Time
	engine    *oauth.Engine
	directory *directory.Directory
	signing   *keys.Manager // ID token signing keys (oidc.go)
	handler   http.Handler
	trusted   []netip.Prefix
	metrics   *metrics
	audit     *auditSink // audit events to the store (security.go)
}

// New builds a server.
func New(opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	cfg := opts.Config
	if cfg.Issuer == "" {
		return nil, errors.New("server: issuer is not set")
	}
	trusted, err := parsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: opts.Store, log: opts.Log, now: opts.Now, trusted: trusted, metrics: newMetrics()}
	s.audit = newAuditSink(opts.Store, opts.Log)
	s.metrics.watchPool(opts.Store)
	rec := recorder{log: opts.Log, metrics: s.metrics, sink: s.audit}
	limiter := ratelimit.New(opts.Store, opts.Keys, opts.Now)
	if s.signing, err = newSigningKeys(opts); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.engine = oauth.New(opts.Store, opts.Keys, oauth.Config{
		Issuer:               cfg.Issuer,
		StartURLs:            cfg.StartURLs,
		AnyStartURL:          cfg.Dev,
		ClientLifetime:       time.Duration(cfg.ClientLifetime),
		DeviceCodeLifetime:   time.Duration(cfg.DeviceCodeLifetime),
		DeviceInterval:       time.Duration(cfg.DevicePollInterval),
		AccessTokenLifetime:  time.Duration(cfg.AccessTokenLifetime),
		RefreshTokenLifetime: time.Duration(cfg.RefreshTokenLifetime),
		RefreshReuseGrace:    reuseGrace(cfg.RefreshReuseGrace),
		AuthCodeLifetime:     time.Duration(cfg.AuthCodeLifetime),
		Audit:                rec,
		IDTokens:             s.signing,
		Limits:               engineLimits(cfg, limiter, opts.Store),
	}, opts.Now, opts.Log)
	s.directory = directory.New(opts.Store, opts.Keys, directory.Config{
		SessionLifetime:  time.Duration(cfg.BrowserSessionTimeout),
		Audit:            rec,
		Limiter:          limiter,
		SignInPerIP:      perMinute(cfg.LimitSignInFailuresPerIP, cfg.LimitBackoffMax),
		SignInPerAccount: perMinute(cfg.LimitSignInFailuresPerAccount, cfg.LimitBackoffMax),
		LockoutAfter:     cfg.LockoutAfterFailures,
		MFARequired:      cfg.MFARequired,
		TOTPIssuer:       totpIssuer(cfg.Issuer),
	}, opts.Now, opts.Log)

	mux := http.NewServeMux()
	awsapi.New(s.engine, opts.Log).Register(mux)
	s.newPortal(opts.Keys, rec).Register(mux)
	s.registerOIDC(mux)
	web.New(s.engine, s.directory, web.Config{
		Issuer:          cfg.Issuer,
		SessionLifetime: time.Duration(cfg.BrowserSessionTimeout),
		Now:             opts.Now,
		Log:             opts.Log,
	}).Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", s.metrics.handler())
	}
	mux.HandleFunc("GET /{$}", s.home)
	s.handler = s.middleware(mux)
	return s, nil
}

// reuseGrace maps the config's 0 = off onto the engine's negative = off.
func reuseGrace(d config.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return time.Duration(d)
}

// Engine returns the protocol engine (for tests and commands).
func (s *Server) Engine() *oauth.Engine { return s.engine }

// Directory returns the user directory.
func (s *Server) Directory() *directory.Directory { return s.directory }

// Handler returns the whole HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "store unavailable")
		return
	}
	// Loads the signing keys (creating the first one on a new install).
	if err := s.signing.Ready(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "signing keys unavailable")
		return
	}
	fmt.Fprintln(w, "ready")
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/device", http.StatusSeeOther)
}

// Serve serves on ln until ctx is cancelled, then stops accepting and lets
// in-flight requests finish within the shutdown grace.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	gcCtx, stopGC := context.WithCancel(ctx)
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		s.collect(gcCtx, time.Minute)
	}()
	defer func() { stopGC(); <-gcDone }()
	// Runs until after the shutdown, so in-flight requests' events are kept.
	auditCtx, stopAudit := context.WithCancel(context.WithoutCancel(ctx))
	auditDone := make(chan struct{})
	go func() {
		defer close(auditDone)
		s.audit.run(auditCtx)
	}()
	defer func() { stopAudit(); <-auditDone }()

	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	if s.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			hs.Close()
			return fmt.Errorf("server: metrics listener: %w", err)
		}
		ms := &http.Server{Handler: s.metrics.handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := ms.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics: %w", err)
			}
		}()
		defer ms.Close()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", time.Duration(s.cfg.ShutdownGrace))
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.cfg.ShutdownGrace))
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("server: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// gcBatch bounds each delete so the collector never holds a table for long.
const gcBatch = 500

// collect removes expired rows every period, in bounded batches. Any
// replica may do it: the deletes are idempotent.
func (s *Server) collect(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		s.CollectOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CollectOnce removes what is due now, batch by batch.
func (s *Server) CollectOnce(ctx context.Context) {
	total := 0
	for ctx.Err() == nil {
		n, err := s.store.DeleteExpired(ctx, s.now(), time.Duration(s.cfg.ExpiredRetention), gcBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "removing expired rows", "err", err)
			}
			return
		}
		total += n
		s.metrics.storeGC.Add(float64(n))
		if n < gcBatch {
			break
		}
	}
	if total > 0 {
		s.log.DebugContext(ctx, "expired rows removed", "rows", total)
	}
	s.collectSecurity(ctx)
}

// ---- middleware ----

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := reqinfo.Info{ID: reqinfo.NewID(), ClientIP: s.clientIP(r)}
		r = r.WithContext(reqinfo.With(r.Context(), info))
		// The mux records the matched pattern on this request.
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "request_id", info.ID, "panic", p)
				if rec.status == 0 {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			latency := time.Since(start)
			s.metrics.observeRequest(r.Pattern, r.Method, rec.status, latency, rec.Header().Get("X-Amzn-Errortype"))
			level := slog.LevelInfo
			// Pending polls are the bulk of traffic: keep them out of
			// the log above debug level.
			if (r.URL.Path == "/token" || r.URL.Path == "/oauth2/token") && rec.status == http.StatusBadRequest {
				level = slog.LevelDebug
			}
			s.log.LogAttrs(r.Context(), level, "request",
				slog.String("request_id", info.ID),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", rec.status),
				slog.Duration("latency", latency),
				slog.String("client_ip", info.ClientIP),
			)
		}()
		next.ServeHTTP(rec, r)
	})
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range list {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pfx.Masked())
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("server: trusted proxy %q: %w", p, err)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// clientIP is the peer address, or — when the peer is a trusted proxy — the
// right-most X-Forwarded-For address that is not itself a trusted proxy.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(s.trusted) == 0 {
		return host // no proxy to trust: no need to parse the peer
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.isTrusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.isTrusted(a) {
			return a.Unmap().String()
		}
	}
	return host
}

func (s *Server) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
