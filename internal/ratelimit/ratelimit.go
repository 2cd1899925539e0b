// Package ratelimit counts attempts — user codes typed, sign-ins, client
// registrations, device authorizations — in the store, so that a limit
// holds across every replica. A Limiter turns named checks (a scope, such
// as "signin-ip", and a subject, such as a client's address group) into
// keyed hashes and counts one hit on each under its Rule (see
// store.RateRule): at most Limit hits per window, then the subject waits
// until the window ends, longer each time it overflows again.
//
// Callers count an attempt before acting on it (so concurrent attempts
// cannot slip past the limit together) and take the hit back with Undo
// when the attempt turns out to be legitimate, so that only failures use
// up the allowance. A success never resets a per-address counter: an
// attacker must not be able to clear his own counter with an attempt he
// knows will succeed.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Rule limits one scope. The zero Rule is off.
type Rule struct {
	// Limit is how many hits each window allows; 0 turns the limit off.
	Limit int
	// Window is the length of a window; one minute when zero.
	Window time.Duration
	// MaxExtra bounds how much longer than the rest of the window a
	// subject that overflows again and again must wait: 0 gives a plain
	// fixed window.
	MaxExtra time.Duration
}

// Off reports whether the rule limits nothing.
func (r Rule) Off() bool { return r.Limit <= 0 }

func (r Rule) store() store.RateRule {
	w := r.Window
	if w <= 0 {
		w = time.Minute
	}
	return store.RateRule{Limit: r.Limit, Window: w.Truncate(time.Microsecond), MaxExtra: r.MaxExtra}
}

// Store is what a Limiter needs from storage.
type Store interface {
	HitRateLimit(ctx context.Context, key []byte, now time.Time, rule store.RateRule) (store.RateHit, error)
	UndoRateLimitHit(ctx context.Context, key []byte) error
	ResetRateLimit(ctx context.Context, key []byte) error
}

// Limiter counts attempts. A nil *Limiter allows everything.
type Limiter struct {
	st   Store
	keys *secret.Keys
	now  func() time.Time
}

// New returns a limiter counting in st; now is the clock (time.Now when nil).
func New(st Store, keys *secret.Keys, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{st: st, keys: keys, now: now}
}

// Check is one counter an attempt is counted against.
type Check struct {
	Scope   string // what is limited, e.g. "code-ip"
	Subject string // who: an address group, a user id…; empty skips the check
	Rule    Rule
}

// Limited is the error of a refused attempt.
type Limited struct {
	Scope      string        // the first check that refused
	RetryAfter time.Duration // how long until the subject may try again
	// Overflow: this attempt went over the limit (the attempts refused
	// after it, while the subject waits, do not): worth one audit record.
	Overflow bool
}

func (e *Limited) Error() string {
	return fmt.Sprintf("rate limit %s: retry after %v", e.Scope, e.RetryAfter)
}

// AsLimited returns the *Limited in err's chain, if any.
func AsLimited(err error) (*Limited, bool) {
	var l *Limited
	ok := errors.As(err, &l)
	return l, ok
}

// Ticket is an attempt that was counted, so that it can be taken back.
type Ticket struct {
	l    *Limiter
	keys [][]byte
}

// Hit counts one attempt against each check, in order. When a check
// refuses, the hits already counted for this attempt are taken back and
// the error is a *Limited. Store failures are returned as they are.
func (l *Limiter) Hit(ctx context.Context, checks ...Check) (*Ticket, error) {
	t := &Ticket{l: l}
	if l == nil {
		return t, nil
	}
	now := l.now()
	for _, c := range checks {
		if c.Rule.Off() || c.Subject == "" {
			continue
		}
		key := l.key(c.Scope, c.Subject)
		h, err := l.st.HitRateLimit(ctx, key, now, c.Rule.store())
		if err != nil {
			t.Undo(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("ratelimit: %s: %w", c.Scope, err)
		}
		if !h.Allowed {
			t.Undo(context.WithoutCancel(ctx))
			wait := h.BlockedUntil.Sub(now)
			if wait < time.Second {
				wait = time.Second
			}
			return nil, &Limited{Scope: c.Scope, RetryAfter: wait.Round(time.Second), Overflow: h.Overflow}
		}
		t.keys = append(t.keys, key)
	}
	return t, nil
}

// Undo takes the attempt's hits back, best effort: a failure only leaves
// the attempt counted. Undo on a nil Ticket does nothing.
func (t *Ticket) Undo(ctx context.Context) {
	if t == nil || t.l == nil {
		return
	}
	for _, k := range t.keys {
		_ = t.l.st.UndoRateLimitHit(ctx, k)
	}
	t.keys = nil
}

// Reset forgets the subject's counter in scope (an account's failures
// after a successful sign-in).
func (l *Limiter) Reset(ctx context.Context, scope, subject string) error {
	if l == nil || subject == "" {
		return nil
	}
	if err := l.st.ResetRateLimit(ctx, l.key(scope, subject)); err != nil {
		return fmt.Errorf("ratelimit: reset %s: %w", scope, err)
	}
	return nil
}

// key is the stored key: a keyed hash, so the store never holds an
// address or a user name.
func (l *Limiter) key(scope, subject string) []byte {
	return l.keys.Hash("ratelimit", scope+"\x00"+subject)
}

// IPGroup maps a client address to the unit a per-address limit counts:
// an IPv4 address as it is, an IPv6 address by its /64 (one host, or one
// customer of a provider, usually has a whole /64 to pick addresses from).
// IPv4-mapped IPv6 addresses count as IPv4; zones are dropped. What does
// not parse is returned as it is, so that it still counts as one subject.
func IPGroup(ip string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64) // never fails for a 128-bit address
	return p.String()
}
