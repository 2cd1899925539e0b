package sqlite

import (
	"sync"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

// pollTracker keeps the poll times of device grants in memory.
//
// Every waiting client polls every few seconds, and each poll records its
// time so that the next one can be judged (RFC 8628 §3.5 slow_down). On
// SQLite that record would be a write transaction, and a WAL append, per
// poll. A SQLite database is served by one process, so the bookkeeping can
// live in that process instead, under one mutex that makes each poll's
// check-and-record atomic exactly as the single UPDATE did. What is lost on
// a crash or restart is only when the last polls came, which is harmless:
// a client may then poll once without being told to slow down. The grant's
// state (status, expiry, approval) is still read from the database on every
// poll, and a grown interval — the rare outcome of a slow_down — is still
// written there, so neither is ever lost.
//
// Entries mirror the rows: they are dropped when DeleteExpired removes
// their grant, so the map never holds more than the live grants.
type pollTracker struct {
	mu     sync.Mutex
	grants map[string]pollState // by device code hash
}

// pollState is one grant's bookkeeping, in unix microseconds (0: none).
type pollState struct {
	last, prev int64
	interval   int64 // the interval as this process last set it
	expires    int64 // the grant's expiry, for pruning
}

// poll records a poll at now of grant g (as just read from the database)
// and returns g as it is after the poll, and whether the poll came too
// early (only while pending) so that the interval grew by step.
func (t *pollTracker) poll(g store.DeviceGrant, now time.Time, step time.Duration) (store.DeviceGrant, bool) {
	nowUS := now.UnixMicro()
	key := string(g.DeviceCodeHash)
	t.mu.Lock()
	st, ok := t.grants[key]
	if !ok {
		// First poll this process sees: start from what the row holds
		// (written by an earlier version, or never).
		st = pollState{last: micro(g.LastPollAt), prev: micro(g.PrevPollAt), expires: micro(g.ExpiresAt)}
	}
	interval := max(g.Interval.Microseconds(), st.interval)
	slow := g.Status == store.DevicePending && st.prev != 0 && nowUS-st.prev < interval
	if slow {
		interval += step.Microseconds()
	}
	st.prev, st.last, st.interval = st.last, nowUS, interval
	if t.grants == nil {
		t.grants = make(map[string]pollState)
	}
	t.grants[key] = st
	t.mu.Unlock()
	return st.apply(g), slow
}

// overlay fills g's poll times and interval from the tracker, when it has
// seen the grant.
func (t *pollTracker) overlay(g store.DeviceGrant) store.DeviceGrant {
	t.mu.Lock()
	st, ok := t.grants[string(g.DeviceCodeHash)]
	t.mu.Unlock()
	if !ok {
		return g
	}
	return st.apply(g)
}

func (st pollState) apply(g store.DeviceGrant) store.DeviceGrant {
	g.LastPollAt = fromMicro(st.last)
	g.PrevPollAt = fromMicro(st.prev)
	g.Interval = max(g.Interval, time.Duration(st.interval)*time.Microsecond)
	return g
}

// prune forgets grants whose expiry is before beforeUS, as DeleteExpired
// removes their rows.
func (t *pollTracker) prune(beforeUS int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, st := range t.grants {
		if st.expires != 0 && st.expires < beforeUS {
			delete(t.grants, k)
		}
	}
}

// forget drops one grant's entry.
func (t *pollTracker) forget(deviceCodeHash []byte) {
	t.mu.Lock()
	delete(t.grants, string(deviceCodeHash))
	t.mu.Unlock()
}

func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicro(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
