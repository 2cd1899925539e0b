package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one load client's own state: its grants, its refresh chain.
type worker interface {
	// wait blocks until the next request may be sent (a pending worker
	// never polls a grant faster than its interval) and reports whether
	// it had to.
	wait(ctx context.Context) (waited bool)
	// do sends one request and returns "" for the scenario's expected
	// answer, else a short description of what came instead.
	do(c *conn) (kind string)
	// dead reports that the worker cannot go on (its refresh chain broke).
	dead() bool
}

// kindOf describes an unexpected answer.
func kindOf(r response) string {
	if r.errType != "" {
		return fmt.Sprintf("HTTP %d %s", r.status, r.errType)
	}
	return fmt.Sprintf("HTTP %d", r.status)
}

func transportKind(err error) string {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return "connection closed"
	}
	return "transport: " + err.Error()
}

// jsonBody encodes a request body once, before the load starts.
func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings always encode
	}
	return b
}

// ---- bare ----

// bareBody is shaped like a pending poll, so the baseline moves the same
// bytes as the scenario it is compared with.
var bareBody = jsonBody(map[string]string{
	"clientId":     "QmPn2Hk0Q9Zf4ZyqoqvH2m0M",
	"clientSecret": "sso_cs_9oTtq4nJ0e3vUj5pYjv2wQmXc2m6gRZqk0Vh9cX5b8Y",
	"grantType":    "urn:ietf:params:oauth:grant-type:device_code",
	"deviceCode":   "sso_dc_1Qd9zHc0m2V8pWQe7kLrY3sTn5uJx4bA6fG0hK2iM8o",
})

type bareWorker struct{}

func (bareWorker) wait(context.Context) bool { return false }
func (bareWorker) dead() bool                { return false }
func (bareWorker) do(c *conn) string {
	r, err := c.post("/token", bareBody)
	switch {
	case err != nil:
		return transportKind(err)
	case r.status != 200:
		return kindOf(r)
	}
	return ""
}

// ---- start ----

type startWorker struct{ body []byte }

func (startWorker) wait(context.Context) bool { return false }
func (startWorker) dead() bool                { return false }
func (w startWorker) do(c *conn) string {
	r, err := c.post("/device_authorization", w.body)
	switch {
	case err != nil:
		return transportKind(err)
	case r.status != 200:
		return kindOf(r)
	}
	return ""
}

func startBody(c registered, startURL string) []byte {
	return jsonBody(map[string]string{"clientId": c.ClientID, "clientSecret": c.ClientSecret, "startUrl": startURL})
}

// ---- pending ----

// pendingGrant is one grant a worker polls, with when its last two polls
// were sent.
type pendingGrant struct {
	body       []byte
	prev, last time.Time
}

// pendingWorker polls its own grants round-robin. The server answers
// slow_down to a poll that comes less than the interval after the poll
// before the previous one (two polls per interval are allowed), so a grant
// is polled again only spacing after its second-to-last poll.
type pendingWorker struct {
	grants  []pendingGrant
	next    int
	spacing time.Duration
}

func (w *pendingWorker) dead() bool { return len(w.grants) == 0 }

func (w *pendingWorker) wait(ctx context.Context) bool {
	g := &w.grants[w.next]
	d := time.Until(g.prev.Add(w.spacing))
	if g.prev.IsZero() || d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return true
}

func (w *pendingWorker) do(c *conn) string {
	g := &w.grants[w.next]
	w.next = (w.next + 1) % len(w.grants)
	g.prev, g.last = g.last, time.Now()
	r, err := c.post("/token", g.body)
	switch {
	case err != nil:
		return transportKind(err)
	case r.status != 400 || r.errType != "AuthorizationPendingException":
		return kindOf(r)
	}
	return ""
}

func pollBody(c registered, deviceCode string) []byte {
	return jsonBody(map[string]string{
		"clientId":     c.ClientID,
		"clientSecret": c.ClientSecret,
		"grantType":    "urn:ietf:params:oauth:grant-type:device_code",
		"deviceCode":   deviceCode,
	})
}

// ---- refresh ----

// refreshWorker follows one rotation chain: each refresh presents the
// token the previous answer returned.
type refreshWorker struct {
	client registered
	token  string
	broken bool
	buf    []byte
}

var refreshKey = []byte(`"refreshToken":"`)

func (w *refreshWorker) wait(context.Context) bool { return false }
func (w *refreshWorker) dead() bool                { return w.broken }

func (w *refreshWorker) do(c *conn) string {
	b := w.buf[:0]
	b = append(b, `{"clientId":`...)
	b = strconv.AppendQuote(b, w.client.ClientID)
	b = append(b, `,"clientSecret":`...)
	b = strconv.AppendQuote(b, w.client.ClientSecret)
	b = append(b, `,"grantType":"refresh_token","refreshToken":`...)
	b = strconv.AppendQuote(b, w.token)
	b = append(b, '}')
	w.buf = b
	r, err := c.post("/token", b)
	switch {
	case err != nil:
		// The rotation may or may not have happened; presenting the same
		// token again within the reuse grace is answered normally.
		return transportKind(err)
	case r.status != 200:
		if r.errType == "InvalidGrantException" {
			w.broken = true // the family is gone: this chain cannot go on
		}
		return kindOf(r)
	}
	i := bytes.Index(r.body, refreshKey)
	if i < 0 {
		w.broken = true
		return "answer without refreshToken"
	}
	rest := r.body[i+len(refreshKey):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 {
		w.broken = true
		return "answer without refreshToken"
	}
	w.token = string(rest[:j])
	return ""
}

// ---- building the workers ----

// prepare creates, through the public API, what n workers of scenario need.
func prepare(ctx context.Context, o options, logf func(string, ...any)) ([]worker, error) {
	s := newSetup(o.url, o.startURL, o.timeout)
	ws := make([]worker, o.concurrency)
	switch o.scenario {
	case "bare":
		for i := range ws {
			ws[i] = bareWorker{}
		}
		return ws, nil
	case "start":
		c, err := s.register(ctx, "ssooidc-load start")
		if err != nil {
			return nil, err
		}
		for i := range ws {
			ws[i] = startWorker{body: startBody(c, o.startURL)}
		}
		return ws, nil
	case "pending":
		return preparePending(ctx, s, o, logf)
	case "refresh":
		return prepareRefresh(ctx, s, o, logf)
	}
	return nil, fmt.Errorf("unknown scenario %q", o.scenario)
}

// preparePending starts o.grants grants, spread over the workers, with
// o.concurrency parallel raw connections (the same path the start
// scenario measures).
func preparePending(ctx context.Context, s *setup, o options, logf func(string, ...any)) ([]worker, error) {
	c, err := s.register(ctx, "ssooidc-load pending")
	if err != nil {
		return nil, err
	}
	// Learn the interval from one ordinary start.
	first, err := s.start(ctx, c)
	if err != nil {
		return nil, err
	}
	interval := time.Duration(max(first.Interval, 1)) * time.Second
	spacing := time.Duration(float64(interval) * (1 + o.guard))
	total := max(o.grants, o.concurrency)
	logf("setup: starting %d device authorizations (interval %s; each grant is polled at most twice per %s)", total, interval, spacing)
	began := time.Now()

	pws := make([]*pendingWorker, o.concurrency)
	for i := range pws {
		pws[i] = &pendingWorker{spacing: spacing}
	}
	pws[0].grants = append(pws[0].grants, pendingGrant{body: pollBody(c, first.DeviceCode)})
	body := startBody(c, o.startURL)
	var made atomic.Int64
	made.Store(1)
	var wg sync.WaitGroup
	errc := make(chan error, o.concurrency)
	for i := range o.concurrency {
		wg.Go(func() {
			cn := newConn(o.addr, o.host, o.timeout, o.spin)
			defer cn.close()
			for ctx.Err() == nil {
				if made.Add(1) > int64(total) {
					return
				}
				r, err := cn.post("/device_authorization", body)
				if err != nil {
					errc <- fmt.Errorf("StartDeviceAuthorization: %w", err)
					return
				}
				if r.status != 200 {
					errc <- fmt.Errorf("StartDeviceAuthorization: %s: %s", kindOf(r), r.body)
					return
				}
				var d deviceAuth
				if err := json.Unmarshal(r.body, &d); err != nil {
					errc <- fmt.Errorf("StartDeviceAuthorization: %w", err)
					return
				}
				pws[i].grants = append(pws[i].grants, pendingGrant{body: pollBody(c, d.DeviceCode)})
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	took := time.Since(began)
	logf("setup: %d grants in %s (%.0f/s); the grants allow at most %.0f polls/s",
		total, took.Round(time.Millisecond), float64(total)/took.Seconds(), 2*float64(total)/spacing.Seconds())
	ws := make([]worker, len(pws))
	for i, p := range pws {
		ws[i] = p
	}
	return ws, nil
}

// prepareRefresh makes one approved, redeemed grant per worker: the
// worker's refresh chain. It signs in once through the sign-in page and
// approves each grant on the consent page.
func prepareRefresh(ctx context.Context, s *setup, o options, logf func(string, ...any)) ([]worker, error) {
	if o.password == "" {
		return nil, fmt.Errorf("the refresh scenario approves grants through the sign-in page: give -password (or SSOOIDC_LOAD_PASSWORD) for user %q", o.user)
	}
	c, err := s.register(ctx, "ssooidc-load refresh")
	if err != nil {
		return nil, err
	}
	if err := s.signIn(ctx, o.user, o.password); err != nil {
		return nil, err
	}
	logf("setup: signed in as %s; approving %d grants", o.user, o.concurrency)
	ws := make([]worker, o.concurrency)
	for i := range ws {
		d, err := s.start(ctx, c)
		if err != nil {
			return nil, err
		}
		if err := s.approve(ctx, d); err != nil {
			return nil, err
		}
		t, err := s.redeem(ctx, c, d.DeviceCode)
		if err != nil {
			return nil, err
		}
		ws[i] = &refreshWorker{client: c, token: t.RefreshToken}
	}
	return ws, nil
}
