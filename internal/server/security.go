package server

import (
	"context"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/ratelimit"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
	"github.com/ssooidc/ssooidc/internal/store"
)

// The abuse defences and the audit trail's store sink (docs/security.md).

// perMinute is a limit of n a minute; backoff bounds the growing wait of
// a subject that keeps exceeding it (0: a plain per-minute limit).
func perMinute(n int, backoff config.Duration) ratelimit.Rule {
	return ratelimit.Rule{Limit: n, Window: time.Minute, MaxExtra: time.Duration(backoff)}
}

// engineLimits are the engine's defences as configured.
func engineLimits(cfg config.Config, l *ratelimit.Limiter, st store.Store) oauth.Limits {
	return oauth.Limits{
		Limiter:                      l,
		Grants:                       st,
		RegisterPerIP:                perMinute(cfg.LimitRegisterPerIP, cfg.LimitBackoffMax),
		DeviceStartPerIP:             perMinute(cfg.LimitDeviceStartPerIP, cfg.LimitBackoffMax),
		MaxLiveDeviceGrantsPerClient: cfg.MaxLiveDeviceGrantsPerClient,
		CodePerIP:                    perMinute(cfg.LimitCodeFailuresPerIP, cfg.LimitBackoffMax),
		CodePerUser:                  perMinute(cfg.LimitCodeFailuresPerSession, cfg.LimitBackoffMax),
		// The ceiling is shared by everyone: a plain per-minute window,
		// so that an attacker cannot push everyone's wait ever longer.
		CodeGlobal:          perMinute(cfg.LimitCodeFailuresGlobal, 0),
		DeviceGrantDisabled: !cfg.DeviceGrantEnabled,
		DeviceGrantClients:  cfg.DeviceGrantClients,
	}
}

// totpIssuer names the instance in authenticator apps: the issuer's host.
func totpIssuer(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		return u.Host
	}
	return "ssooidc"
}

// collectSecurity removes due rate-limit counters and audit events older
// than audit_retention, batch by batch.
func (s *Server) collectSecurity(ctx context.Context) {
	var auditBefore time.Time
	if s.cfg.AuditRetention > 0 {
		auditBefore = s.now().Add(-time.Duration(s.cfg.AuditRetention))
	}
	for ctx.Err() == nil {
		n, err := s.store.DeleteExpiredSecurity(ctx, s.now(), auditBefore, gcBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "removing expired security rows", "err", err)
			}
			return
		}
		s.metrics.storeGC.Add(float64(n))
		if n < gcBatch {
			return
		}
	}
}

// auditSink writes audit events to the store in the background, in
// batches, so that recording an event never waits for the database: the
// request that caused it only queues it. When the queue is full (the
// store is down or far behind) events still reach the log stream but not
// the store, and a warning says so.
type auditSink struct {
	st    store.AuditEvents
	log   *slog.Logger
	queue chan store.AuditEvent
	flush chan chan struct{}

	mu       sync.Mutex
	dropped  int
	lastWarn time.Time
}

// auditQueue is how many events may wait for the store; auditBatch is the
// most one transaction writes.
const (
	auditQueue     = 4096
	auditBatch     = 256
	maxAuditDetail = 512
)

// auditLinger is how long the writer waits, once it holds an event, for
// more to join the batch. Each batch is one transaction, whose commit costs
// far more than its inserts: written as they came, one commit per event
// took a fifth to two fifths of the CPU of StartDeviceAuthorization and
// refresh. 50 ms is nothing to a reader of the trail and little to lose
// in a crash; a flush or a shutdown still writes at once.
const auditLinger = 50 * time.Millisecond

func newAuditSink(st store.AuditEvents, log *slog.Logger) *auditSink {
	return &auditSink{st: st, log: log, queue: make(chan store.AuditEvent, auditQueue), flush: make(chan chan struct{})}
}

// add queues an event without blocking.
func (a *auditSink) add(ctx context.Context, e audit.Event) {
	if a == nil {
		return
	}
	info := reqinfo.From(ctx)
	detail := e.Detail
	if len(detail) > maxAuditDetail {
		detail = detail[:maxAuditDetail]
	}
	ev := store.AuditEvent{Time: e.Time, Type: string(e.Type), UserID: e.UserID, ClientID: e.ClientID,
		Detail: detail, RequestID: info.ID, ClientIP: info.ClientIP}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	select {
	case a.queue <- ev:
	default:
		a.mu.Lock()
		a.dropped++
		warn := time.Since(a.lastWarn) > 10*time.Second
		if warn {
			a.lastWarn = time.Now()
		}
		n := a.dropped
		a.mu.Unlock()
		if warn {
			a.log.WarnContext(ctx, "audit events not written to the store: the writer is behind", "dropped_total", n)
		}
	}
}

// run writes queued events until ctx is done, then writes what is left.
// A batch is written when it is full or auditLinger after its first event.
func (a *auditSink) run(ctx context.Context) {
	batch := make([]store.AuditEvent, 0, auditBatch)
	write := func() {
		if len(batch) == 0 {
			return
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := a.st.AppendAuditEvents(wctx, batch); err != nil {
			a.log.ErrorContext(ctx, "writing audit events to the store", "events", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	drain := func() {
		for len(batch) < auditBatch {
			select {
			case e := <-a.queue:
				batch = append(batch, e)
			default:
				return
			}
		}
	}
	// writeAll writes the waiting batch and everything queued.
	writeAll := func() {
		for drain(); len(batch) > 0; drain() {
			write()
		}
	}
	linger := time.NewTimer(auditLinger)
	linger.Stop()
	defer linger.Stop()
	var due <-chan time.Time // linger.C while a batch waits, else nil
	for {
		select {
		case e := <-a.queue:
			batch = append(batch, e)
			drain()
			switch {
			case len(batch) >= auditBatch:
				write()
				linger.Stop()
				due = nil
			case due == nil:
				linger.Reset(auditLinger)
				due = linger.C
			}
		case <-due:
			due = nil
			write()
		case done := <-a.flush:
			writeAll()
			linger.Stop()
			due = nil
			close(done)
		case <-ctx.Done():
			writeAll()
			return
		}
	}
}

// FlushAudit waits until the audit events recorded so far are in the
// store (while Serve runs), or ctx is done.
func (s *Server) FlushAudit(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case s.audit.flush <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
