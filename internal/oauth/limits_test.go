package oauth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/ratelimit"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

// events collects audit events.
type events struct {
	mu  sync.Mutex
	all []audit.Event
}

func (r *events) Record(_ context.Context, e audit.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, e)
}

func (r *events) of(t audit.Type) []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Event
	for _, e := range r.all {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

const limitsStartURL = "https://sso.example.test/start"

// limitedEngine is an engine on a real SQLite store with limits set by
// adjust (each starts off).
func limitedEngine(t *testing.T, adjust func(*Limits)) (*Engine, *clocktest.Clock, *events, store.Store) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "limits.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.New([]byte(strings.Repeat("L", secret.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New(time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC))
	rec := &events{}
	l := Limits{Limiter: ratelimit.New(st, keys, clock.Now), Grants: st}
	adjust(&l)
	e := New(st, keys, Config{Issuer: "https://sso.example.test", StartURLs: []string{limitsStartURL}, Audit: rec, Limits: l}, clock.Now, nil)
	return e, clock, rec, st
}

func wantKind(t *testing.T, what string, err error, want Kind) {
	t.Helper()
	if got := AsError(err).Kind; err == nil && want != Internal || err != nil && got != want {
		t.Fatalf("%s: error %v, want %s", what, err, want)
	}
}

func TestRegisterFloodSlowsDown(t *testing.T) {
	t.Parallel()
	e, clock, rec, _ := limitedEngine(t, func(l *Limits) {
		l.RegisterPerIP = ratelimit.Rule{Limit: 3, MaxExtra: time.Hour}
	})
	ctx := t.Context()
	reg := func(ip string) error {
		_, err := e.RegisterClient(ctx, RegisterRequest{ClientName: "flood", ClientType: "public", RequestIP: ip})
		return err
	}
	for i := range 3 {
		if err := reg("198.51.100.9"); err != nil {
			t.Fatalf("registration %d: %v", i, err)
		}
	}
	err := reg("198.51.100.9")
	wantKind(t, "fourth registration", err, SlowDown)
	if !strings.Contains(AsError(err).Description, "try again in") {
		t.Errorf("description %q does not say when to try again", AsError(err).Description)
	}
	// Invalid requests count too: a flood is a flood.
	wantKind(t, "invalid registration while slowed down", func() error {
		_, err := e.RegisterClient(ctx, RegisterRequest{RequestIP: "198.51.100.9"})
		return err
	}(), SlowDown)
	// Another address, and an IPv6 neighbour outside the /64, get through.
	if err := reg("198.51.100.10"); err != nil {
		t.Errorf("registration from another address: %v", err)
	}
	for i := range 3 {
		if err := reg("2001:db8:0:1::" + string(rune('a'+i))); err != nil {
			t.Fatalf("IPv6 registration %d: %v", i, err)
		}
	}
	wantKind(t, "fourth registration from the same /64", reg("2001:db8:0:1:ffff::1"), SlowDown)
	if err := reg("2001:db8:0:2::1"); err != nil {
		t.Errorf("registration from the next /64: %v", err)
	}
	if n := len(rec.of(audit.RateLimited)); n != 2 {
		t.Errorf("%d ratelimit.exceeded events, want 2 (one per overflow, none for the waits)", n)
	}
	clock.Advance(time.Minute)
	if err := reg("198.51.100.9"); err != nil {
		t.Errorf("registration after the window: %v", err)
	}
}

func registerDevice(t *testing.T, e *Engine, name string) RegisteredClient {
	t.Helper()
	c, err := e.RegisterClient(t.Context(), RegisterRequest{ClientName: name, ClientType: "public", Scopes: []string{"sso:account:access"}})
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	return c
}

func startDevice(e *Engine, ctx context.Context, c RegisteredClient, ip string) (DeviceAuthorization, error) {
	return e.StartDeviceAuthorization(ctx, StartRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, StartURL: limitsStartURL, RequestIP: ip})
}

func TestDeviceStartLimits(t *testing.T) {
	t.Parallel()
	e, clock, _, _ := limitedEngine(t, func(l *Limits) {
		l.DeviceStartPerIP = ratelimit.Rule{Limit: 3}
		l.MaxLiveDeviceGrantsPerClient = 2
	})
	ctx := t.Context()
	a, b := registerDevice(t, e, "a"), registerDevice(t, e, "b")
	first, err := startDevice(e, ctx, a, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := startDevice(e, ctx, a, "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	// Two live grants: the client must wait for one to end.
	_, err = startDevice(e, ctx, a, "192.0.2.3")
	wantKind(t, "third live grant of one client", err, SlowDown)
	if _, err := startDevice(e, ctx, b, "192.0.2.3"); err != nil {
		t.Errorf("another client: %v", err)
	}
	if err := e.DecideDevice(ctx, first.UserCode, "u1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := startDevice(e, ctx, a, "192.0.2.3"); err != nil {
		t.Errorf("after one grant was decided: %v", err)
	}
	// The address limit: 192.0.2.3 has made 3 attempts (the refused one
	// counted too).
	_, err = startDevice(e, ctx, b, "192.0.2.3")
	wantKind(t, "fourth start from one address", err, SlowDown)
	// Expired grants are not live.
	clock.Advance(11 * time.Minute)
	if _, err := startDevice(e, ctx, a, "192.0.2.4"); err != nil {
		t.Errorf("after the grants expired: %v", err)
	}
}

func TestDeviceGrantPolicy(t *testing.T) {
	t.Parallel()
	off, _, _, _ := limitedEngine(t, func(l *Limits) { l.DeviceGrantDisabled = true })
	c := registerDevice(t, off, "cli")
	_, err := startDevice(off, t.Context(), c, "192.0.2.1")
	wantKind(t, "device grant switched off", err, UnauthorizedClient)

	named, _, _, _ := limitedEngine(t, func(l *Limits) { l.DeviceGrantClients = []string{"aws-cli"} })
	allowed, other := registerDevice(t, named, "aws-cli"), registerDevice(t, named, "evil")
	if _, err := startDevice(named, t.Context(), allowed, ""); err != nil {
		t.Errorf("named client: %v", err)
	}
	_, err = startDevice(named, t.Context(), other, "")
	wantKind(t, "client not on the list", err, UnauthorizedClient)

	byID, _, _, _ := limitedEngine(t, func(l *Limits) {})
	c2 := registerDevice(t, byID, "x")
	byID.cfg.Limits.DeviceGrantClients = []string{c2.ClientID}
	if _, err := startDevice(byID, t.Context(), c2, ""); err != nil {
		t.Errorf("client listed by id: %v", err)
	}
}

func TestUserCodeGuessing(t *testing.T) {
	t.Parallel()
	e, clock, rec, _ := limitedEngine(t, func(l *Limits) {
		l.CodePerIP = ratelimit.Rule{Limit: 5, MaxExtra: time.Hour}
		l.CodePerUser = ratelimit.Rule{Limit: 5, MaxExtra: time.Hour}
		l.CodeGlobal = ratelimit.Rule{Limit: 8}
	})
	ctx := t.Context()
	c := registerDevice(t, e, "cli")
	live := make([]DeviceAuthorization, 3)
	for i := range live {
		var err error
		if live[i], err = startDevice(e, ctx, c, ""); err != nil {
			t.Fatal(err)
		}
	}
	attacker := CodeAttempt{IP: "203.0.113.66", UserID: "mallory"}
	guesses := []string{"BCDF-GHJK", "LMNP-QRST", "VWXZ-BCDF", "GHJK-LMNP", "QRST-VWXZ"}
	var firstErr error
	for i, g := range guesses {
		_, err := e.LookupUserCode(ctx, g, attacker)
		wantKind(t, "wrong guess", err, InvalidGrant)
		if i == 0 {
			firstErr = err
		} else if AsError(err).Description != AsError(firstErr).Description {
			t.Errorf("wrong guesses answer differently: %q, %q", AsError(err).Description, AsError(firstErr).Description)
		}
	}
	// Blocked, even with a live code: the block reveals nothing.
	_, err := e.LookupUserCode(ctx, live[0].UserCode, attacker)
	wantKind(t, "guess after the limit", err, SlowDown)
	if _, ok := ratelimit.AsLimited(err); !ok {
		t.Errorf("the SlowDown error does not carry the wait: %v", err)
	}
	err = e.DecideUserCode(ctx, live[0].UserCode, true, attacker)
	wantKind(t, "approval after the limit", err, SlowDown)
	// A new address does not help a signed-in attacker: the per-person
	// limit holds.
	_, err = e.LookupUserCode(ctx, live[0].UserCode, CodeAttempt{IP: "203.0.113.67", UserID: "mallory"})
	wantKind(t, "same person, new address", err, SlowDown)

	// A legitimate person on another address gets through, again and
	// again: good codes use up nothing.
	alice := CodeAttempt{IP: "192.0.2.10", UserID: "alice"}
	for range 8 {
		p, err := e.LookupUserCode(ctx, live[1].UserCode, alice)
		if err != nil {
			t.Fatalf("legitimate lookup: %v", err)
		}
		if p.UserCode != live[1].UserCode {
			t.Errorf("prompt for %s, want %s", p.UserCode, live[1].UserCode)
		}
	}
	if err := e.DecideUserCode(ctx, live[1].UserCode, true, alice); err != nil {
		t.Fatalf("legitimate approval: %v", err)
	}
	// The global ceiling: 5 bad guesses so far; three more from three
	// new people and addresses, and then everyone waits for the window.
	for i := range 3 {
		who := CodeAttempt{IP: "198.51.100." + string(rune('1'+i)), UserID: "bot" + string(rune('a'+i))}
		_, err := e.LookupUserCode(ctx, "ZZZZ-ZZZZ", who)
		wantKind(t, "distributed guess", err, InvalidGrant)
	}
	_, err = e.LookupUserCode(ctx, live[2].UserCode, alice)
	wantKind(t, "lookup over the global ceiling", err, SlowDown)
	clock.Advance(time.Minute)
	if _, err := e.LookupUserCode(ctx, live[2].UserCode, alice); err != nil {
		t.Errorf("lookup in the next window: %v", err)
	}
	// The attacker is still blocked, for longer the second time.
	for range 5 {
		_, _ = e.LookupUserCode(ctx, "ZZZZ-ZZZZ", attacker)
	}
	_, err = e.LookupUserCode(ctx, "ZZZZ-ZZZZ", attacker)
	lim, ok := ratelimit.AsLimited(err)
	if !ok || lim.RetryAfter <= time.Minute {
		t.Errorf("second overflow: %v, want a wait longer than a minute", err)
	}
	if n := len(rec.of(audit.RateLimited)); n < 3 {
		t.Errorf("%d ratelimit.exceeded events, want at least 3", n)
	}
	for _, ev := range rec.of(audit.DeviceApproved) {
		if ev.Detail != "user_code "+live[1].UserCode || ev.UserID != "alice" || ev.ClientID != c.ClientID {
			t.Errorf("approval event %+v lacks the user code, person or client", ev)
		}
	}
}

func TestLimitsStoreFailureIsInternal(t *testing.T) {
	t.Parallel()
	e, _, _, st := limitedEngine(t, func(l *Limits) { l.CodePerIP = ratelimit.Rule{Limit: 1} })
	st.Close()
	_, err := e.LookupUserCode(t.Context(), "BCDF-GHJK", CodeAttempt{IP: "192.0.2.1"})
	if AsError(err).Kind != Internal || errors.As(err, new(*ratelimit.Limited)) {
		t.Errorf("lookup with a closed store: %v, want an internal error", err)
	}
}
