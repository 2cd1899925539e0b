package sqlite

import (
	"bytes"
	"hash/maphash"
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
// sweep), so the tracker never holds more than the live grants.
type pollTracker struct {
	mu sync.Mutex
	// slots holds every entry, and free the indexes of unused ones. An
	// entry is found by a 64-bit hash of its device code hash (index); one
	// whose hash another entry already has, or whose device code hash is
	// too long to hold in a slot, is found in spill by the whole hash.
	// Neither slots nor index holds a pointer, so the collector never walks
	// the tens of thousands of entries a busy server keeps.
	seed  maphash.Seed
	keyOf func([]byte) uint64 // nil: maphash under seed (tests force collisions)
	index map[uint64]int32
	spill map[string]int32
	slots []pollSlot
	free  []int32
	// gen counts invalidations: a row read from the database is kept only
	// if no grant changed between the read's start and the keeping.
	gen uint64
	// The entries with a kept row, least recently polled first.
	oldest, newest int32
	kept           int
	// What kept rows share, by index; nil where unused.
	shapes     []*grantShape
	shapeIDs   map[shapeKey]int32
	freeShapes []int32
}

// none is the index of no slot.
const none int32 = -1

// pollSlot is one grant's bookkeeping, in unix microseconds (0: none), and
// its kept row when shape is not none: a pending grant's row, poll times
// and interval aside, in a fraction of the memory of a DeviceGrant. What a
// client's grants share — client, scopes, start URL, and the address and
// agent they came from — is held once, in a grantShape. A pending grant
// has no user or decision yet.
type pollSlot struct {
	last, prev int64
	interval   int64 // the interval as this process last set it
	expires    int64 // the grant's expiry, for pruning

	created     int64 // of the kept row
	rowInterval int64 // the kept row's interval, as stored

	shape        int32 // none: no row kept, read the database
	older, newer int32 // neighbours in the kept rows' list

	live    bool
	spilled bool // found in spill, not in index
	long    bool // the device code hash is too long for dev: spill alone has it
	devLen  uint8
	userLen uint8
	dev     [maxDeviceCodeHash]byte
	user    [maxUserCodeHash]byte
}

// The longest hashes a slot holds: what secret.OrderedHash and secret.Hash
// make. A grant with longer ones is still tracked, but its row is not kept.
const (
	maxDeviceCodeHash = 40
	maxUserCodeHash   = 32
)

func (s *pollSlot) deviceCodeHash() []byte { return s.dev[:s.devLen] }

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

// maxPendingRows bounds the pending rows kept: about 170 bytes each with
// their slot and its place in the index. idlePolls is how many of its
// grant's intervals a kept row outlives the last poll by, once the bound
// is reached.
const (
	maxPendingRows = 32768
	idlePolls      = 4
)

// keepable reports whether g can be kept as a row.
func keepable(g store.DeviceGrant) bool {
	return g.Status == store.DevicePending && g.UserID == "" && g.DecidedAt.IsZero() &&
		len(g.DeviceCodeHash) <= maxDeviceCodeHash && len(g.UserCodeHash) <= maxUserCodeHash
}

func (t *pollTracker) key(deviceCodeHash []byte) uint64 {
	if t.keyOf != nil {
		return t.keyOf(deviceCodeHash)
	}
	return maphash.Bytes(t.seed, deviceCodeHash)
}

// find returns the slot of the grant with that device code hash, or none.
func (t *pollTracker) find(deviceCodeHash []byte) int32 {
	if t.index == nil {
		return none // nothing tracked yet (and no seed)
	}
	if i, ok := t.index[t.key(deviceCodeHash)]; ok && bytes.Equal(t.slots[i].deviceCodeHash(), deviceCodeHash) {
		return i
	}
	if i, ok := t.spill[string(deviceCodeHash)]; ok {
		return i
	}
	return none
}

// add makes an entry for a grant not tracked yet.
func (t *pollTracker) add(deviceCodeHash []byte, last, prev, expires int64) int32 {
	if t.index == nil {
		t.seed = maphash.MakeSeed()
		t.index = make(map[uint64]int32)
		t.spill = make(map[string]int32)
		t.shapeIDs = make(map[shapeKey]int32)
		t.oldest, t.newest = none, none
	}
	var i int32
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
	} else {
		i = int32(len(t.slots))
		t.slots = append(t.slots, pollSlot{})
	}
	s := &t.slots[i]
	*s = pollSlot{last: last, prev: prev, expires: expires, shape: none, older: none, newer: none, live: true}
	s.long = len(deviceCodeHash) > maxDeviceCodeHash
	if !s.long {
		s.devLen = uint8(copy(s.dev[:], deviceCodeHash))
	}
	k := t.key(deviceCodeHash)
	if _, taken := t.index[k]; taken || s.long {
		s.spilled = true
		t.spill[string(deviceCodeHash)] = i
	} else {
		t.index[k] = i
	}
	return i
}

// remove forgets slot i, its kept row with it.
func (t *pollTracker) remove(i int32) {
	s := &t.slots[i]
	if s.shape != none {
		t.removeRow(i)
	}
	switch {
	case !s.spilled:
		delete(t.index, t.key(s.deviceCodeHash()))
	case !s.long:
		delete(t.spill, string(s.deviceCodeHash()))
	default:
		for key, j := range t.spill {
			if j == i {
				delete(t.spill, key)
				break
			}
		}
	}
	*s = pollSlot{}
	t.free = append(t.free, i)
}

func (t *pollTracker) pushNewest(i int32) {
	s := &t.slots[i]
	s.older, s.newer = t.newest, none
	if t.newest != none {
		t.slots[t.newest].newer = i
	} else {
		t.oldest = i
	}
	t.newest = i
	t.kept++
}

func (t *pollTracker) unlink(i int32) {
	s := &t.slots[i]
	if s.older != none {
		t.slots[s.older].newer = s.newer
	} else {
		t.oldest = s.newer
	}
	if s.newer != none {
		t.slots[s.newer].older = s.older
	} else {
		t.newest = s.older
	}
	s.older, s.newer = none, none
	t.kept--
}

// keep gives slot i g's row, most recently polled.
func (t *pollTracker) keep(i int32, g store.DeviceGrant) {
	k := shapeKey{g.ClientID, g.StartURL, strings.Join(g.Scopes, "\x00"), g.RequestIP, g.RequestUserAgent}
	id, ok := t.shapeIDs[k]
	if !ok {
		sh := &grantShape{shapeKey: k, scopes: slices.Clone(g.Scopes)}
		if n := len(t.freeShapes); n > 0 {
			id, t.freeShapes = t.freeShapes[n-1], t.freeShapes[:n-1]
			t.shapes[id] = sh
		} else {
			id = int32(len(t.shapes))
			t.shapes = append(t.shapes, sh)
		}
		t.shapeIDs[k] = id
	}
	t.shapes[id].refs++
	s := &t.slots[i]
	s.shape, s.created, s.rowInterval = id, micro(g.CreatedAt), g.Interval.Microseconds()
	s.userLen = uint8(copy(s.user[:], g.UserCodeHash))
	t.pushNewest(i)
}

// removeRow takes slot i's row out of the list and releases its shape.
func (t *pollTracker) removeRow(i int32) {
	t.unlink(i)
	s := &t.slots[i]
	id := s.shape
	s.shape, s.created, s.rowInterval, s.userLen = none, 0, 0, 0
	sh := t.shapes[id]
	if sh.refs--; sh.refs == 0 {
		delete(t.shapeIDs, sh.shapeKey)
		t.shapes[id] = nil
		t.freeShapes = append(t.freeShapes, id)
	}
}

// grant rebuilds slot i's kept row as a DeviceGrant with slices of its own.
func (t *pollTracker) grant(i int32) store.DeviceGrant {
	s := &t.slots[i]
	sh := t.shapes[s.shape]
	codes := make([]byte, 0, int(s.devLen)+int(s.userLen))
	codes = append(append(codes, s.deviceCodeHash()...), s.user[:s.userLen]...)
	return store.DeviceGrant{
		DeviceCodeHash:   codes[:s.devLen:s.devLen],
		UserCodeHash:     codes[s.devLen:],
		ClientID:         sh.clientID,
		Scopes:           slices.Clone(sh.scopes),
		StartURL:         sh.startURL,
		Status:           store.DevicePending,
		Interval:         time.Duration(s.rowInterval) * time.Microsecond,
		CreatedAt:        fromMicro(s.created),
		ExpiresAt:        fromMicro(s.expires),
		RequestIP:        sh.requestIP,
		RequestUserAgent: sh.userAgent,
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
	i := t.find(deviceCodeHash)
	if i == none || t.slots[i].shape == none || t.shapes[t.slots[i].shape].clientID != clientID {
		return store.DeviceGrant{}, false, false
	}
	t.unlink(i)
	t.pushNewest(i)
	g, slow = t.slots[i].record(t.grant(i), now, step)
	return g, slow, true
}

// poll records a poll at now of grant g, as read from the database by a
// read that began at generation gen, and returns g as it is after the poll,
// and whether the poll came too early (only while pending) so that the
// interval grew by step.
func (t *pollTracker) poll(g store.DeviceGrant, gen uint64, now time.Time, step time.Duration) (store.DeviceGrant, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(g.DeviceCodeHash)
	if i == none {
		// First poll this process sees: start from what the row holds
		// (written by an earlier version, or never).
		i = t.add(g.DeviceCodeHash, micro(g.LastPollAt), micro(g.PrevPollAt), micro(g.ExpiresAt))
	}
	if t.slots[i].shape == none && keepable(g) && gen == t.gen && t.room(now) {
		t.keep(i, g)
	}
	return t.slots[i].record(g, now, step)
}

// room reports whether another pending row may be kept. At the bound it
// forgets the least recently polled grants whose client has missed
// idlePolls polls in a row: it is gone (a waiting CLI polls at its
// interval), and if it comes back it reads the database. Their poll times
// go too, as prune would take them: the slots are reused rather than grown
// (a busy server replaces its kept rows every few seconds).
func (t *pollTracker) room(now time.Time) bool {
	nowUS := now.UnixMicro()
	for t.kept >= maxPendingRows {
		i := t.oldest
		if s := &t.slots[i]; s.last >= nowUS-idlePolls*s.interval {
			return false
		}
		t.remove(i)
	}
	return true
}

// dropRow forgets slot i's kept row. A grant never polled has nothing else
// to remember: its entry goes too.
func (t *pollTracker) dropRow(i int32) {
	if t.slots[i].last == 0 {
		t.remove(i)
		return
	}
	t.removeRow(i)
}

// record applies a poll at now to s and returns g as it is after it.
func (s *pollSlot) record(g store.DeviceGrant, now time.Time, step time.Duration) (store.DeviceGrant, bool) {
	nowUS := now.UnixMicro()
	interval := max(g.Interval.Microseconds(), s.interval)
	slow := g.Status == store.DevicePending && s.prev != 0 && nowUS-s.prev < interval
	if slow {
		interval += step.Microseconds()
	}
	s.prev, s.last, s.interval = s.last, nowUS, interval
	return s.apply(g), slow
}

// invalidate drops the pending row kept for a grant this process is about
// to report changed; call it after the change is committed.
func (t *pollTracker) invalidate(deviceCodeHash []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	if i := t.find(deviceCodeHash); i != none && t.slots[i].shape != none {
		t.dropRow(i)
	}
}

// overlay fills g's poll times and interval from the tracker, when it has
// seen the grant.
func (t *pollTracker) overlay(g store.DeviceGrant) store.DeviceGrant {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := t.find(g.DeviceCodeHash); i != none {
		return t.slots[i].apply(g)
	}
	return g
}

func (s *pollSlot) apply(g store.DeviceGrant) store.DeviceGrant {
	g.LastPollAt = fromMicro(s.last)
	g.PrevPollAt = fromMicro(s.prev)
	g.Interval = max(g.Interval, time.Duration(s.interval)*time.Microsecond)
	return g
}

// invalidateAll drops every pending row kept.
func (t *pollTracker) invalidateAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	for t.kept > 0 {
		t.dropRow(t.oldest)
	}
}

// prune forgets the grants expired by nowUS, and those whose client has
// stopped polling: idlePolls intervals without a poll. Poll times no
// longer matter then: only a pending grant is ever told to slow down, and
// only when its poll comes less than an interval after the one before the
// last; a grown interval is in the database. Their rows are answered from
// the database. When most slots are then unused, the rest move together,
// so that what a burst of grants took is given back.
func (t *pollTracker) prune(nowUS int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.slots {
		s := &t.slots[i]
		expired := s.expires != 0 && s.expires <= nowUS
		idle := s.last != 0 && s.last < nowUS-idlePolls*s.interval
		if s.live && (expired || idle) {
			t.remove(int32(i))
		}
	}
	if len(t.free) > len(t.slots)/2 {
		t.compact()
	}
}

// compact moves the live slots to a slice and an index of their size.
func (t *pollTracker) compact() {
	moved := make([]int32, len(t.slots))
	slots := make([]pollSlot, 0, len(t.slots)-len(t.free))
	for i := range t.slots {
		moved[i] = none
		if t.slots[i].live {
			moved[i] = int32(len(slots))
			slots = append(slots, t.slots[i])
		}
	}
	at := func(i int32) int32 {
		if i == none {
			return none
		}
		return moved[i]
	}
	for i := range slots {
		slots[i].older, slots[i].newer = at(slots[i].older), at(slots[i].newer)
	}
	index := make(map[uint64]int32, len(t.index))
	for k, i := range t.index {
		index[k] = moved[i]
	}
	spill := make(map[string]int32, len(t.spill))
	for k, i := range t.spill {
		spill[k] = moved[i]
	}
	t.slots, t.free, t.index, t.spill = slots, nil, index, spill
	t.oldest, t.newest = at(t.oldest), at(t.newest)
}

// created records a grant this process has just stored: any earlier entry
// under its device code goes, and its row is kept (when there is room),
// so that even its first poll reads nothing. No poll can have raced with
// the insert: the device code was not handed out yet.
func (t *pollTracker) created(g store.DeviceGrant, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	if i := t.find(g.DeviceCodeHash); i != none {
		t.remove(i)
	}
	if !keepable(g) || !t.room(now) {
		return
	}
	i := t.add(g.DeviceCodeHash, micro(g.LastPollAt), micro(g.PrevPollAt), micro(g.ExpiresAt))
	t.keep(i, g)
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
