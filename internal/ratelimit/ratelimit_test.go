package ratelimit

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"

	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

func newLimiter(t *testing.T) (*Limiter, *clocktest.Clock, store.Store) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "rl.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.New([]byte(strings.Repeat("k", secret.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	c := clocktest.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	return New(st, keys, c.Now), c, st
}

func TestHitUndo(t *testing.T) {
	t.Parallel()
	l, c, _ := newLimiter(t)
	ctx := t.Context()
	perIP := Check{Scope: "ip", Subject: "192.0.2.1", Rule: Rule{Limit: 2, MaxExtra: time.Hour}}
	global := Check{Scope: "global", Subject: "all", Rule: Rule{Limit: 3}}

	for range 2 {
		if _, err := l.Hit(ctx, perIP, global); err != nil {
			t.Fatalf("Hit: %v", err)
		}
	}
	_, err := l.Hit(ctx, perIP, global)
	lim, ok := AsLimited(err)
	if !ok || lim.Scope != "ip" || lim.RetryAfter != time.Minute || !lim.Overflow {
		t.Fatalf("third Hit = %v, want the ip limit, retry after 1m, overflow", err)
	}
	_, err = l.Hit(ctx, perIP, global)
	if lim, ok := AsLimited(err); !ok || lim.Overflow {
		t.Fatalf("fourth Hit = %v, want limited without overflow", err)
	}
	// Another address is still allowed, and the global count was not
	// spent by the refused attempts.
	other := perIP
	other.Subject = "192.0.2.2"
	tk, err := l.Hit(ctx, other, global)
	if err != nil {
		t.Fatalf("Hit(other address): %v", err)
	}
	tk.Undo(ctx) // a success: the allowance is back
	if _, err := l.Hit(ctx, other, global); err != nil {
		t.Fatalf("Hit after Undo: %v", err)
	}
	if _, err := l.Hit(ctx, other, global); !errors.As(err, new(*Limited)) {
		t.Fatalf("Hit past the global limit = %v, want limited", err)
	}

	c.Advance(time.Minute)
	if _, err := l.Hit(ctx, perIP); err != nil {
		t.Errorf("Hit in the next window: %v", err)
	}
}

func TestOffAndNil(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	ctx := t.Context()
	for range 10 {
		if _, err := l.Hit(ctx, Check{Scope: "off", Subject: "x"}, Check{Scope: "anon", Rule: Rule{Limit: 1}}); err != nil {
			t.Fatalf("Hit(off rule, empty subject): %v", err)
		}
	}
	var none *Limiter
	tk, err := none.Hit(ctx, Check{Scope: "x", Subject: "y", Rule: Rule{Limit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	tk.Undo(ctx)
	if err := none.Reset(ctx, "x", "y"); err != nil {
		t.Fatal(err)
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	ctx := t.Context()
	acct := Check{Scope: "account", Subject: "alice", Rule: Rule{Limit: 1}}
	if _, err := l.Hit(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if err := l.Reset(ctx, "account", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Hit(ctx, acct); err != nil {
		t.Errorf("Hit after Reset: %v", err)
	}
}

type failingStore struct{ Store }

func (failingStore) HitRateLimit(context.Context, []byte, time.Time, store.RateRule) (store.RateHit, error) {
	return store.RateHit{}, errors.New("disk on fire")
}

func TestStoreFailure(t *testing.T) {
	t.Parallel()
	l, _, st := newLimiter(t)
	l.st = failingStore{st}
	_, err := l.Hit(t.Context(), Check{Scope: "s", Subject: "x", Rule: Rule{Limit: 1}})
	if err == nil || errors.As(err, new(*Limited)) {
		t.Errorf("Hit with a failing store = %v, want the store's error", err)
	}
}

func TestIPGroup(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{" 192.0.2.7 ", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"not an address", "not an address"},
		{"", ""},
	} {
		if got := IPGroup(tt.in); got != tt.want {
			t.Errorf("IPGroup(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzIPGroup: any string a proxy header or a peer address can carry maps
// to a group without panicking, and every address of one /64 to one group.
func FuzzIPGroup(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1%lo", "1.2.3", "[::1]", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g := IPGroup(s)
		if g != IPGroup(g) && !strings.HasSuffix(g, "/64") {
			t.Errorf("IPGroup(%q) = %q is not stable", s, g)
		}
	})
}
