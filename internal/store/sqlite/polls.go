package sqlite

import (
	lru "container/list"
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
	grants map[string]pollState // by device code hash
	// gen counts invalidations: a row read from the database is kept only
	// if no grant changed between the read's start and the keeping.
	gen uint64
	// rows holds the kept rows (*keptRow), least recently polled first.
	rows   lru.List
	shapes map[string]*grantShape // by client, start URL and scopes
}

// keptRow is a pending grant's row (poll times and interval aside, which
// are its pollState's), in less than half the memory of a DeviceGrant:
// times in unix microseconds, and what a client's grants share — client,
// scopes, start URL — held once in a shared grantShape. A pending grant
// has no user or decision yet.
type keptRow struct {
	key          string // the device code hash, as in pollTracker.grants
	userCodeHash string
	shape        *grantShape
	interval     int64 // as stored, in microseconds
	created      int64
	expires      int64
	requestIP    string
	userAgent    string
}

// grantShape is what the kept rows of one client's grants share; refs
// counts them, and a shape no row uses is forgotten.
type grantShape struct {
	key      string // in shapes
	clientID string
	startURL string
	scopes   []string
	refs     int
}

// maxPendingRows bounds the pending rows kept: about 250 bytes each.
// idlePolls is how many of its grant's intervals a kept row outlives the
// last poll by, once the bound is reached.
const (
	maxPendingRows = 32768
	idlePolls      = 4
)

// pollState is one grant's bookkeeping, in unix microseconds (0: none).
type pollState struct {
	last, prev int64
	interval   int64 // the interval as this process last set it
	expires    int64 // the grant's expiry, for pruning
	// row is the grant's element in rows (a *keptRow); nil: read the
	// database.
	row *lru.Element
}

// keepable reports whether g can be kept as a keptRow.
func keepable(g store.DeviceGrant) bool {
	return g.Status == store.DevicePending && g.UserID == "" && g.DecidedAt.IsZero()
}

// keep adds g's row, most recently polled.
func (t *pollTracker) keep(key string, g store.DeviceGrant) *lru.Element {
	shapeKey := g.ClientID + "\x00" + g.StartURL + "\x00" + strings.Join(g.Scopes, " ")
	sh := t.shapes[shapeKey]
	if sh == nil {
		sh = &grantShape{key: shapeKey, clientID: g.ClientID, startURL: g.StartURL, scopes: slices.Clone(g.Scopes)}
		if t.shapes == nil {
			t.shapes = make(map[string]*grantShape)
		}
		t.shapes[shapeKey] = sh
	}
	sh.refs++
	return t.rows.PushBack(&keptRow{key: key, userCodeHash: string(g.UserCodeHash), shape: sh,
		interval: g.Interval.Microseconds(), created: micro(g.CreatedAt), expires: micro(g.ExpiresAt),
		requestIP: g.RequestIP, userAgent: g.RequestUserAgent})
}

// removeRow takes a kept row out of rows and releases its shape.
func (t *pollTracker) removeRow(e *lru.Element) {
	sh := t.rows.Remove(e).(*keptRow).shape
	if sh.refs--; sh.refs == 0 {
		delete(t.shapes, sh.key)
	}
}

// grant rebuilds the row as a DeviceGrant with slices of its own.
func (r *keptRow) grant() store.DeviceGrant {
	return store.DeviceGrant{
		DeviceCodeHash:   []byte(r.key),
		UserCodeHash:     []byte(r.userCodeHash),
		ClientID:         r.shape.clientID,
		Scopes:           slices.Clone(r.shape.scopes),
		StartURL:         r.shape.startURL,
		Status:           store.DevicePending,
		Interval:         time.Duration(r.interval) * time.Microsecond,
		CreatedAt:        fromMicro(r.created),
		ExpiresAt:        fromMicro(r.expires),
		RequestIP:        r.requestIP,
		RequestUserAgent: r.userAgent,
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
	st, found := t.grants[string(deviceCodeHash)]
	if !found || st.row == nil {
		return store.DeviceGrant{}, false, false
	}
	row := st.row.Value.(*keptRow)
	if row.shape.clientID != clientID {
		return store.DeviceGrant{}, false, false
	}
	t.rows.MoveToBack(st.row)
	g, slow = t.record(&st, row.grant(), now, step)
	t.grants[string(deviceCodeHash)] = st
	return g, slow, true
}

// poll records a poll at now of grant g, as read from the database by a
// read that began at generation gen, and returns g as it is after the poll,
// and whether the poll came too early (only while pending) so that the
// interval grew by step.
func (t *pollTracker) poll(g store.DeviceGrant, gen uint64, now time.Time, step time.Duration) (store.DeviceGrant, bool) {
	key := string(g.DeviceCodeHash)
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.grants[key]
	if !ok {
		// First poll this process sees: start from what the row holds
		// (written by an earlier version, or never).
		st = pollState{last: micro(g.LastPollAt), prev: micro(g.PrevPollAt), expires: micro(g.ExpiresAt)}
	}
	if st.row == nil && keepable(g) && gen == t.gen && t.room(now) {
		st.row = t.keep(key, g)
	}
	g, slow := t.record(&st, g, now, step)
	if t.grants == nil {
		t.grants = make(map[string]pollState)
	}
	t.grants[key] = st
	return g, slow
}

// room reports whether another pending row may be kept. At the bound it
// drops the least recently polled rows whose client has missed idlePolls
// polls in a row: it is gone (a waiting CLI polls at its interval), and if
// it comes back it reads the database.
func (t *pollTracker) room(now time.Time) bool {
	nowUS := now.UnixMicro()
	for t.rows.Len() >= maxPendingRows {
		key := t.rows.Front().Value.(*keptRow).key
		st := t.grants[key]
		if st.last >= nowUS-idlePolls*st.interval {
			return false
		}
		t.dropRow(key, st)
	}
	return true
}

// dropRow forgets the kept row of the grant key, whose state is st.
// A grant never polled has nothing else to remember: its entry goes too.
func (t *pollTracker) dropRow(key string, st pollState) {
	t.removeRow(st.row)
	if st.last == 0 {
		delete(t.grants, key)
		return
	}
	st.row = nil
	t.grants[key] = st
}

// record applies a poll at now to st and returns g as it is after it.
func (t *pollTracker) record(st *pollState, g store.DeviceGrant, now time.Time, step time.Duration) (store.DeviceGrant, bool) {
	nowUS := now.UnixMicro()
	interval := max(g.Interval.Microseconds(), st.interval)
	slow := g.Status == store.DevicePending && st.prev != 0 && nowUS-st.prev < interval
	if slow {
		interval += step.Microseconds()
	}
	st.prev, st.last, st.interval = st.last, nowUS, interval
	return st.apply(g), slow
}

// invalidate drops the pending row kept for a grant this process is about
// to report changed; call it after the change is committed.
func (t *pollTracker) invalidate(deviceCodeHash []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	if st, ok := t.grants[string(deviceCodeHash)]; ok && st.row != nil {
		t.dropRow(string(deviceCodeHash), st)
	}
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

// invalidateAll drops every pending row kept.
func (t *pollTracker) invalidateAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	for t.rows.Len() > 0 {
		key := t.rows.Front().Value.(*keptRow).key
		t.dropRow(key, t.grants[key])
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
	for k, st := range t.grants {
		expired := st.expires != 0 && st.expires <= nowUS
		idle := st.last != 0 && st.last < nowUS-idlePolls*st.interval
		if expired || idle {
			t.drop(k, st)
		}
	}
}

// created records a grant this process has just stored: any earlier entry
// under its device code goes, and its row is kept (when there is room),
// so that even its first poll reads nothing. No poll can have raced with
// the insert: the device code was not handed out yet.
func (t *pollTracker) created(g store.DeviceGrant, now time.Time) {
	key := string(g.DeviceCodeHash)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	if st, ok := t.grants[key]; ok {
		t.drop(key, st)
	}
	if !keepable(g) || !t.room(now) {
		return
	}
	if t.grants == nil {
		t.grants = make(map[string]pollState)
	}
	t.grants[key] = pollState{last: micro(g.LastPollAt), prev: micro(g.PrevPollAt), expires: micro(g.ExpiresAt),
		row: t.keep(key, g)}
}

func (t *pollTracker) drop(key string, st pollState) {
	if st.row != nil {
		t.removeRow(st.row)
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
