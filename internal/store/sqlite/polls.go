package sqlite

import (
	"slices"
	"strings"
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
// a client may then poll once without being told to slow down. A grown
// interval — the rare outcome of a slow_down — is still written to the
// database, so it is never lost.
//
// The tracker also keeps the row of a grant it last saw pending, so that a
// poll of a pending grant — nearly every poll — reads nothing from the
// database. Only this process changes a pending grant (DecideDeviceGrant),
// and it drops the kept row when it does (invalidate); a read that raced
// with such a change is never kept (see gen). Rows are kept for at most
// maxPendingRows grants, so memory stays bounded however many clients wait;
// at the bound the least recently polled row gives way if its client has
// stopped polling (room), and the polls of grants without a row read the
// database as before.
//
// Entries are dropped when their grant expires (at DeleteExpired's next
// sweep), so the map never holds more than the live grants.
type pollTracker struct {
	mu     sync.Mutex
	grants map[string]*pollEntry // by device code hash
	// gen counts invalidations: a row read from the database is kept only
	// if no grant changed between the read's start and the keeping.
	gen uint64
	// rows lists the entries with a kept row, least recently polled first.
	rows   keptRows
	shapes map[shapeKey]*grantShape
}

// pollEntry is one grant's bookkeeping, in unix microseconds (0: none),
// and its kept row when it has one: one allocation, found by the map.
type pollEntry struct {
	last, prev int64
	interval   int64 // the interval as this process last set it
	expires    int64 // the grant's expiry, for pruning

	row          keptRow
	older, newer *pollEntry // neighbours in rows, while the row is kept
}

// keptRow is a pending grant's row (poll times and interval aside, which
// are its entry's), in a fraction of the memory of a DeviceGrant: times in
// unix microseconds, both code hashes in one string, and what a client's
// grants share — client, scopes, start URL, and the address and agent
// they came from — held once in a shared grantShape. A pending grant has
// no user or decision yet.
type keptRow struct {
	codes    string      // the device code hash, then the user code hash
	split    int         // where the user code hash starts in codes
	shape    *grantShape // nil: no row kept, read the database
	interval int64       // as stored, in microseconds
	created  int64
}

func (e *pollEntry) kept() bool { return e.row.shape != nil }

// grantShape is what the kept rows of one client's grants share; refs
// counts them, and a shape no row uses is forgotten.
type grantShape struct {
	shapeKey
	scopes []string
	refs   int
}

type shapeKey struct {
	clientID, startURL, scopes, requestIP, userAgent string // scopes joined by NUL
}

// keptRows is a list of entries through their older/newer links.
type keptRows struct {
	oldest, newest *pollEntry
	n              int
}

func (l *keptRows) Len() int { return l.n }

func (l *keptRows) pushNewest(e *pollEntry) {
	e.older, e.newer = l.newest, nil
	if l.newest != nil {
		l.newest.newer = e
	} else {
		l.oldest = e
	}
	l.newest = e
	l.n++
}

func (l *keptRows) remove(e *pollEntry) {
	if e.older != nil {
		e.older.newer = e.newer
	} else {
		l.oldest = e.newer
	}
	if e.newer != nil {
		e.newer.older = e.older
	} else {
		l.newest = e.older
	}
	e.older, e.newer = nil, nil
	l.n--
}

// maxPendingRows bounds the pending rows kept: about 220 bytes each with
// their entry. idlePolls is how many of its grant's intervals a kept row
// outlives the last poll by, once the bound is reached.
const (
	maxPendingRows = 32768
	idlePolls      = 4
)

// keepable reports whether g can be kept as a keptRow.
func keepable(g store.DeviceGrant) bool {
	return g.Status == store.DevicePending && g.UserID == "" && g.DecidedAt.IsZero()
}

// keep gives e g's row, most recently polled.
func (t *pollTracker) keep(e *pollEntry, g store.DeviceGrant) {
	k := shapeKey{g.ClientID, g.StartURL, strings.Join(g.Scopes, "\x00"), g.RequestIP, g.RequestUserAgent}
	sh := t.shapes[k]
	if sh == nil {
		sh = &grantShape{shapeKey: k, scopes: slices.Clone(g.Scopes)}
		if t.shapes == nil {
			t.shapes = make(map[shapeKey]*grantShape)
		}
		t.shapes[k] = sh
	}
	sh.refs++
	e.row = keptRow{codes: string(g.DeviceCodeHash) + string(g.UserCodeHash), split: len(g.DeviceCodeHash),
		shape: sh, interval: g.Interval.Microseconds(), created: micro(g.CreatedAt)}
	t.rows.pushNewest(e)
}

// removeRow takes e's row out of rows and releases its shape.
func (t *pollTracker) removeRow(e *pollEntry) {
	t.rows.remove(e)
	sh := e.row.shape
	e.row = keptRow{}
	if sh.refs--; sh.refs == 0 {
		delete(t.shapes, sh.shapeKey)
	}
}

// grant rebuilds e's kept row as a DeviceGrant with slices of its own.
func (e *pollEntry) grant() store.DeviceGrant {
	r := &e.row
	return store.DeviceGrant{
		DeviceCodeHash:   []byte(r.codes[:r.split]),
		UserCodeHash:     []byte(r.codes[r.split:]),
		ClientID:         r.shape.clientID,
		Scopes:           slices.Clone(r.shape.scopes),
		StartURL:         r.shape.startURL,
		Status:           store.DevicePending,
		Interval:         time.Duration(r.interval) * time.Microsecond,
		CreatedAt:        fromMicro(r.created),
		ExpiresAt:        fromMicro(e.expires),
		RequestIP:        r.shape.requestIP,
		RequestUserAgent: r.shape.userAgent,
	}
}

// generation returns the invalidation count, to pass to poll for a row
// about to be read.
func (t *pollTracker) generation() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gen
}

// pollPending records a poll at now by clientID when the tracker holds the
// grant's pending row, and returns the grant as it is after the poll and
// whether the poll came too early; ok is false when the database must be
// read.
func (t *pollTracker) pollPending(deviceCodeHash []byte, clientID string, now time.Time, step time.Duration) (g store.DeviceGrant, slow, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.grants[string(deviceCodeHash)]
	if e == nil || !e.kept() || e.row.shape.clientID != clientID {
		return store.DeviceGrant{}, false, false
	}
	t.rows.remove(e)
	t.rows.pushNewest(e)
	g, slow = e.record(e.grant(), now, step)
	return g, slow, true
}

// poll records a poll at now of grant g, as read from the database by a
// read that began at generation gen, and returns g as it is after the poll,
// and whether the poll came too early (only while pending) so that the
// interval grew by step.
func (t *pollTracker) poll(g store.DeviceGrant, gen uint64, now time.Time, step time.Duration) (store.DeviceGrant, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.grants[string(g.DeviceCodeHash)]
	if e == nil {
		// First poll this process sees: start from what the row holds
		// (written by an earlier version, or never).
		e = &pollEntry{last: micro(g.LastPollAt), prev: micro(g.PrevPollAt), expires: micro(g.ExpiresAt)}
		if t.grants == nil {
			t.grants = make(map[string]*pollEntry)
		}
		t.grants[string(g.DeviceCodeHash)] = e
	}
	if !e.kept() && keepable(g) && gen == t.gen && t.room(now) {
		t.keep(e, g)
	}
	return e.record(g, now, step)
}

// room reports whether another pending row may be kept. At the bound it
// drops the least recently polled rows whose client has missed idlePolls
// polls in a row: it is gone (a waiting CLI polls at its interval), and if
// it comes back it reads the database.
func (t *pollTracker) room(now time.Time) bool {
	nowUS := now.UnixMicro()
	for t.rows.Len() >= maxPendingRows {
		e := t.rows.oldest
		if e.last >= nowUS-idlePolls*e.interval {
			return false
		}
		t.dropRow(e)
	}
	return true
}

// dropRow forgets e's kept row. A grant never polled has nothing else to
// remember: its entry goes too.
func (t *pollTracker) dropRow(e *pollEntry) {
	key := e.row.codes[:e.row.split]
	t.removeRow(e)
	if e.last == 0 {
		delete(t.grants, key)
	}
}

// record applies a poll at now to e and returns g as it is after it.
func (e *pollEntry) record(g store.DeviceGrant, now time.Time, step time.Duration) (store.DeviceGrant, bool) {
	nowUS := now.UnixMicro()
	interval := max(g.Interval.Microseconds(), e.interval)
	slow := g.Status == store.DevicePending && e.prev != 0 && nowUS-e.prev < interval
	if slow {
		interval += step.Microseconds()
	}
	e.prev, e.last, e.interval = e.last, nowUS, interval
	return e.apply(g), slow
}

// invalidate drops the pending row kept for a grant this process is about
// to report changed; call it after the change is committed.
func (t *pollTracker) invalidate(deviceCodeHash []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	if e := t.grants[string(deviceCodeHash)]; e != nil && e.kept() {
		t.dropRow(e)
	}
}

// overlay fills g's poll times and interval from the tracker, when it has
// seen the grant.
func (t *pollTracker) overlay(g store.DeviceGrant) store.DeviceGrant {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.grants[string(g.DeviceCodeHash)]; e != nil {
		return e.apply(g)
	}
	return g
}

func (e *pollEntry) apply(g store.DeviceGrant) store.DeviceGrant {
	g.LastPollAt = fromMicro(e.last)
	g.PrevPollAt = fromMicro(e.prev)
	g.Interval = max(g.Interval, time.Duration(e.interval)*time.Microsecond)
	return g
}

// invalidateAll drops every pending row kept.
func (t *pollTracker) invalidateAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	for t.rows.Len() > 0 {
		t.dropRow(t.rows.oldest)
	}
}

// prune forgets the grants expired by nowUS, and those whose client has
// stopped polling: idlePolls intervals without a poll. Poll times no
// longer matter then: only a pending grant is ever told to slow down, and
// only when its poll comes less than an interval after the one before the
// last; a grown interval is in the database. Their rows are answered from
// the database.
func (t *pollTracker) prune(nowUS int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.grants {
		expired := e.expires != 0 && e.expires <= nowUS
		idle := e.last != 0 && e.last < nowUS-idlePolls*e.interval
		if expired || idle {
			t.drop(k, e)
		}
	}
}

// created records a grant this process has just stored: any earlier entry
// under its device code goes, and its row is kept (when there is room),
// so that even its first poll reads nothing. No poll can have raced with
// the insert: the device code was not handed out yet.
func (t *pollTracker) created(g store.DeviceGrant, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	if e := t.grants[string(g.DeviceCodeHash)]; e != nil {
		t.drop(string(g.DeviceCodeHash), e)
	}
	if !keepable(g) || !t.room(now) {
		return
	}
	e := &pollEntry{last: micro(g.LastPollAt), prev: micro(g.PrevPollAt), expires: micro(g.ExpiresAt)}
	t.keep(e, g)
	if t.grants == nil {
		t.grants = make(map[string]*pollEntry)
	}
	t.grants[e.row.codes[:e.row.split]] = e // the key shares the row's string
}

func (t *pollTracker) drop(key string, e *pollEntry) {
	if e.kept() {
		t.removeRow(e)
	}
	delete(t.grants, key)
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
