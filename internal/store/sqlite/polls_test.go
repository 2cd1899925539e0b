package sqlite

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/store"
)

// TestPollsInMemory: a poll writes nothing but a grown interval, so a
// restart forgets when the last polls came and keeps everything else.
func TestPollsInMemory(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ssooidc.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	g := grantN(1)
	if err := s.CreateDeviceGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	step := 5 * time.Second
	for i, at := range []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond} {
		_, out, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", t0.Add(at), step)
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		if want := i == 2; out.SlowDown != want {
			t.Errorf("poll %d: SlowDown = %v, want %v", i, out.SlowDown, want)
		}
	}
	got, err := s.GetDeviceGrantByUserCode(ctx, g.UserCodeHash)
	if err != nil {
		t.Fatal(err)
	}
	if got.Interval != 6*time.Second || !got.LastPollAt.Equal(t0.Add(200*time.Millisecond)) {
		t.Errorf("before restart: Interval %v, LastPollAt %v", got.Interval, got.LastPollAt)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, path)
	got, err = s.GetDeviceGrantByUserCode(ctx, g.UserCodeHash)
	if err != nil {
		t.Fatal(err)
	}
	if got.Interval != 6*time.Second {
		t.Errorf("after restart: Interval = %v, want the grown 6s", got.Interval)
	}
	if !got.LastPollAt.IsZero() || !got.PrevPollAt.IsZero() {
		t.Errorf("after restart: poll times %v, %v; want none (kept in memory only)", got.LastPollAt, got.PrevPollAt)
	}
	// The grown interval still applies: a poll within 6 s of the one
	// before the last slows down again.
	for i, at := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		_, out, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", t0.Add(at), step)
		if err != nil {
			t.Fatal(err)
		}
		if want := i == 2; out.SlowDown != want {
			t.Errorf("after restart, poll %d: SlowDown = %v, want %v", i, out.SlowDown, want)
		}
	}
}

// TestPollsPruned: the bookkeeping of a grant goes with its row, and with
// its client once that stops polling; a client that comes back is judged
// as before.
func TestPollsPruned(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	collectAt := t0.Add(30 * time.Minute)
	for i := range 4 {
		g := grantN(i)
		polled := t0
		switch i {
		case 2: // outlives the collection below and is still polled
			g.ExpiresAt = t0.Add(time.Hour)
			polled = collectAt.Add(-time.Second)
		case 3: // outlives it, but its client stopped polling
			g.ExpiresAt = t0.Add(time.Hour)
		}
		if err := s.CreateDeviceGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", polled, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.polls.tracked(); n != 4 {
		t.Fatalf("%d grants tracked, want 4", n)
	}
	if _, err := s.DeleteExpired(ctx, collectAt, time.Minute, 100); err != nil {
		t.Fatal(err)
	}
	if s.polls.find(grantN(2).DeviceCodeHash) == none || s.polls.tracked() != 1 {
		t.Errorf("%d grants tracked after collection, want 1, the one still polled", s.polls.tracked())
	}
	if _, _, err := s.PollDeviceGrant(ctx, grantN(0).DeviceCodeHash, "c1", collectAt, time.Second); err == nil {
		t.Errorf("poll of a collected grant: no error")
	} else if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("poll of a collected grant: %v, want ErrNotFound", err)
	}
	// The idle client comes back: its row is read again, and two polls
	// in a row are one too many, as for any grant.
	for i, wantSlow := range []bool{false, false, true} {
		g, out, err := s.PollDeviceGrant(ctx, grantN(3).DeviceCodeHash, "c1", collectAt.Add(time.Duration(i)*time.Millisecond), time.Second)
		if err != nil || g.Status != store.DevicePending || out.SlowDown != wantSlow {
			t.Errorf("poll %d of the idle grant: %s, slow down %v, %v; want pending, %v", i, g.Status, out.SlowDown, err, wantSlow)
		}
	}
}

// TestPendingRowKept: a grant this process started is kept from its
// creation, so its polls are answered from memory — a change made behind
// this process's back is not seen — until this process decides the grant,
// after which every poll sees the decision.
func TestPendingRowKept(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ssooidc.db")
	s := openTest(t, path)
	g := grantN(1)
	g.Scopes = []string{"sso:account:access"}
	g.StartURL, g.RequestIP, g.RequestUserAgent = "https://start.test", "192.0.2.7", "aws-cli/2.9"
	if err := s.CreateDeviceGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	poll := func(at time.Duration) store.DeviceGrant {
		t.Helper()
		got, _, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", t0.Add(at), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if s.polls.kept != 1 {
		t.Fatalf("%d pending rows kept after the grant was created, want 1", s.polls.kept)
	}
	first := poll(0)
	if s.polls.kept != 1 {
		t.Fatalf("%d pending rows kept, want 1", s.polls.kept)
	}
	// The kept row gives back exactly what the database holds.
	fromDB, err := s.GetDeviceGrantByUserCode(ctx, g.UserCodeHash)
	if err != nil {
		t.Fatal(err)
	}
	kept := s.polls.grant(s.polls.find(g.DeviceCodeHash))
	if diff := cmp.Diff(fromDB, s.polls.overlay(kept)); diff != "" {
		t.Errorf("kept row differs from the database's (-database +kept):\n%s", diff)
	}
	// Another connection changes the row: the kept row answers.
	other := openTest(t, path)
	if _, err := other.writer.ExecContext(ctx, `UPDATE device_grants SET start_url = 'changed' WHERE device_code_hash = ?`,
		g.DeviceCodeHash); err != nil {
		t.Fatal(err)
	}
	second := poll(10 * time.Second)
	if second.StartURL != first.StartURL {
		t.Errorf("poll read the database: StartURL %q", second.StartURL)
	}
	if !second.PrevPollAt.Equal(t0) || !second.LastPollAt.Equal(t0.Add(10*time.Second)) {
		t.Errorf("poll times %v, %v; want %v, %v", second.PrevPollAt, second.LastPollAt, t0, t0.Add(10*time.Second))
	}
	// What a poll returns is the caller's own.
	second.Scopes[0] = "mutated"
	second.DeviceCodeHash[0] ^= 1
	if third := poll(20 * time.Second); third.Scopes[0] == "mutated" {
		t.Errorf("the kept row shares its slices with a caller")
	}

	if _, err := s.DecideDeviceGrant(ctx, g.UserCodeHash, "u1", true, t0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if s.polls.kept != 0 {
		t.Errorf("%d pending rows kept after the decision, want 0", s.polls.kept)
	}
	if got := poll(40 * time.Second); got.Status != store.DeviceApproved || got.UserID != "u1" || got.StartURL != "changed" {
		t.Errorf("after the decision: status %s, user %q, StartURL %q; want approved, u1, the database's", got.Status, got.UserID, got.StartURL)
	}
}

// TestPendingRowRace: polls racing a decision never keep a row read before
// it, so once DecideDeviceGrant has returned every poll sees the decision.
func TestPendingRowRace(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	for i := range 20 {
		g := grantN(100 + i)
		if err := s.CreateDeviceGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					// Far apart in time, so none is answered slow_down.
					at := t0.Add(time.Duration(w*1_000_000+n) * time.Minute)
					if _, _, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", at, time.Second); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		if _, err := s.DecideDeviceGrant(ctx, g.UserCodeHash, "u1", false, t0); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", t0.Add(-time.Hour), time.Second)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.DeviceDenied {
			t.Fatalf("grant %d: a poll after the decision saw %s", i, got.Status)
		}
	}
}

// TestPendingRowsBounded: the count of kept rows follows the entries
// through expiry, collection and a new grant, and never passes the bound.
func TestPendingRowsBounded(t *testing.T) {
	var tr pollTracker
	row := func(i int) store.DeviceGrant {
		g := grantN(i)
		g.Status = store.DevicePending
		return g
	}
	for i := range maxPendingRows + 10 {
		tr.poll(row(i), tr.generation(), t0, time.Second)
	}
	if tr.kept != maxPendingRows || tr.tracked() != maxPendingRows+10 {
		t.Fatalf("rows %d of %d entries; want %d of %d", tr.kept, tr.tracked(), maxPendingRows, maxPendingRows+10)
	}
	stored := row(0)
	stored.Status = store.DeviceApproved // stored again, not pending: nothing to keep
	tr.created(stored, t0)
	tr.invalidate(row(1).DeviceCodeHash)
	tr.invalidate(row(maxPendingRows + 5).DeviceCodeHash) // never kept
	if tr.kept != maxPendingRows-2 {
		t.Errorf("rows %d after a new grant and invalidations, want %d", tr.kept, maxPendingRows-2)
	}
	// A read that began before an invalidation is not kept.
	gen := tr.generation()
	tr.invalidate(row(2).DeviceCodeHash)
	tr.poll(row(1), gen, t0, time.Second)
	if tr.keptRow(row(1).DeviceCodeHash) {
		t.Errorf("a row read before an invalidation was kept")
	}
	// Full: a new grant's row is kept only in place of the least recently
	// polled, and only if its client missed idlePolls polls (the grants'
	// interval is 1 s).
	rowIdleAfter := idlePolls * grantN(0).Interval
	later := t0.Add(rowIdleAfter - time.Second)
	if _, _, ok := tr.pollPending(row(3).DeviceCodeHash, "c1", later, time.Second); !ok {
		t.Fatalf("row 3 not kept")
	}
	tr.poll(row(maxPendingRows+20), tr.generation(), later, time.Second)
	tr.poll(row(maxPendingRows+21), tr.generation(), later, time.Second)
	tr.poll(row(maxPendingRows+22), tr.generation(), later, time.Second)
	if tr.kept != maxPendingRows {
		t.Fatalf("rows %d, want the bound %d", tr.kept, maxPendingRows)
	}
	tr.poll(row(maxPendingRows+23), tr.generation(), later, time.Second)
	if tr.keptRow(row(maxPendingRows + 23).DeviceCodeHash) {
		t.Errorf("a row was kept beyond the bound with none idle")
	}
	idle := t0.Add(rowIdleAfter + time.Microsecond)
	tracked := tr.tracked()
	tr.poll(row(maxPendingRows+24), tr.generation(), idle, time.Second)
	for _, i := range []int{3, 5, maxPendingRows + 20, maxPendingRows + 22, maxPendingRows + 24} {
		if !tr.keptRow(row(i).DeviceCodeHash) {
			t.Errorf("row %d not kept", i)
		}
	}
	if tr.keptRow(row(4).DeviceCodeHash) {
		t.Errorf("the least recently polled row (4) was not the one dropped")
	}
	// Its client is gone, so its poll times went with it: the entries
	// do not grow.
	if tr.find(row(4).DeviceCodeHash) != none || tr.tracked() != tracked {
		t.Errorf("after making room: row 4 tracked %v, %d entries; want untracked, %d",
			tr.find(row(4).DeviceCodeHash) != none, tr.tracked(), tracked)
	}
	if tr.kept != maxPendingRows {
		t.Errorf("rows %d after making room, want %d", tr.kept, maxPendingRows)
	}

	tr.prune(micro(row(4).ExpiresAt)) // every grant has expired
	if tr.kept != 0 || tr.tracked() != 0 || len(tr.shapeIDs) != 0 {
		t.Errorf("after expiry: rows %d of %d entries, %d shapes; want none", tr.kept, tr.tracked(), len(tr.shapeIDs))
	}

	// Grants started and never polled: a row each while there is room,
	// then the oldest gives way, and nothing else is remembered of it.
	for i := range maxPendingRows + 100 {
		tr.created(row(100_000+i), t0)
	}
	if tr.kept != maxPendingRows || tr.tracked() != maxPendingRows {
		t.Errorf("after starting more grants than the bound: rows %d of %d entries; want %d of %d",
			tr.kept, tr.tracked(), maxPendingRows, maxPendingRows)
	}
	if tr.find(row(100_000).DeviceCodeHash) != none {
		t.Errorf("the oldest never-polled grant is still tracked")
	}
}

func (t *pollTracker) tracked() int { return len(t.slots) - len(t.free) }

func (t *pollTracker) keptRow(deviceCodeHash []byte) bool {
	i := t.find(deviceCodeHash)
	return i != none && t.slots[i].shape != none
}

// TestLockServing: one process at a time serves a database; the claim ends
// when its store closes.
func TestLockServing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssooidc.db")
	first, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.LockServing(); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	second := openTest(t, path) // an administration command may still open it
	err = second.LockServing()
	if err == nil || !strings.Contains(err.Error(), "already served by another ssooidc process") {
		t.Fatalf("second claim: %v, want already served", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := second.LockServing(); err != nil {
		t.Errorf("claim after the first closed: %v", err)
	}
}

// checkKeptList walks the kept rows both ways and compares with the count.
func checkKeptList(t *testing.T, tr *pollTracker) {
	t.Helper()
	n, prev := 0, none
	for i := tr.oldest; i != none; i = tr.slots[i].newer {
		if tr.slots[i].older != prev || tr.slots[i].shape == none || !tr.slots[i].live {
			t.Fatalf("kept list broken at slot %d", i)
		}
		prev, n = i, n+1
	}
	if prev != tr.newest || n != tr.kept {
		t.Fatalf("kept list: %d rows ending at %d; want %d ending at %d", n, prev, tr.kept, tr.newest)
	}
}

// TestPollTrackerSpill: grants whose index key another grant holds, and a
// device code hash too long for a slot, are found by their whole hash, and
// each is forgotten alone.
func TestPollTrackerSpill(t *testing.T) {
	tr := pollTracker{keyOf: func([]byte) uint64 { return 7 }} // every key collides
	long := grantN(99)
	long.DeviceCodeHash = append(long.DeviceCodeHash, make([]byte, maxDeviceCodeHash)...)
	grants := []store.DeviceGrant{grantN(0), grantN(1), grantN(2), long}
	for _, g := range grants {
		tr.created(g, t0) // the long one is not kept, so not tracked yet
	}
	if tr.tracked() != 3 || tr.kept != 3 || len(tr.index) != 1 || len(tr.spill) != 2 {
		t.Fatalf("tracked %d, kept %d, index %d, spill %d; want 3, 3, 1, 2", tr.tracked(), tr.kept, len(tr.index), len(tr.spill))
	}
	for i, g := range grants {
		got, _ := tr.poll(g, tr.generation(), t0.Add(time.Duration(i)*time.Second), time.Second)
		if !got.LastPollAt.Equal(t0.Add(time.Duration(i) * time.Second)) {
			t.Errorf("grant %d: LastPollAt %v", i, got.LastPollAt)
		}
	}
	if tr.tracked() != 4 || tr.kept != 3 || len(tr.spill) != 3 {
		t.Fatalf("after polls: tracked %d, kept %d, spill %d; want 4, 3 (not the long one), 3", tr.tracked(), tr.kept, len(tr.spill))
	}
	// The grant in the index goes; the others are still found.
	tr.invalidate(grants[0].DeviceCodeHash)
	tr.prune(micro(t0.Add(idlePolls*time.Second + 1500*time.Millisecond))) // idle: grants 0 and 1
	for i, want := range []bool{false, false, true, true} {
		if got := tr.find(grants[i].DeviceCodeHash) != none; got != want {
			t.Errorf("grant %d tracked = %v, want %v", i, got, want)
		}
	}
	if g, _, ok := tr.pollPending(grants[2].DeviceCodeHash, "c1", t0.Add(time.Minute), time.Second); !ok || !bytes.Equal(g.DeviceCodeHash, grants[2].DeviceCodeHash) {
		t.Errorf("grant 2 not answered from its kept row")
	}
	checkKeptList(t, &tr)
	tr.prune(micro(long.ExpiresAt))
	if tr.tracked() != 0 || len(tr.index) != 0 || len(tr.spill) != 0 || tr.kept != 0 {
		t.Errorf("after expiry: tracked %d, index %d, spill %d, kept %d; want none", tr.tracked(), len(tr.index), len(tr.spill), tr.kept)
	}
}

// TestPollTrackerCompacts: once most slots are unused the live ones move
// together, and each is still found with its row, poll times and place in
// the kept list.
func TestPollTrackerCompacts(t *testing.T) {
	var tr pollTracker
	var live []store.DeviceGrant
	pruneAt := grantN(0).ExpiresAt
	for i := range 1000 {
		g := grantN(i)
		tr.created(g, t0)
		if i%10 == 3 { // outlives the prune below, and is still polled
			g.ExpiresAt = pruneAt.Add(time.Hour)
			tr.created(g, t0)
			tr.poll(g, tr.generation(), pruneAt, time.Second)
			live = append(live, g)
		}
	}
	before := make([]store.DeviceGrant, len(live))
	for i, g := range live {
		before[i] = tr.overlay(tr.grant(tr.find(g.DeviceCodeHash)))
	}
	tr.prune(micro(pruneAt))
	if len(tr.slots) != len(live) || len(tr.free) != 0 {
		t.Fatalf("%d slots, %d free after pruning to %d grants; want them compacted", len(tr.slots), len(tr.free), len(live))
	}
	checkKeptList(t, &tr)
	for i, g := range live {
		at := tr.find(g.DeviceCodeHash)
		if at == none || tr.slots[at].shape == none {
			t.Fatalf("grant %d lost its row", i)
		}
		if diff := cmp.Diff(before[i], tr.overlay(tr.grant(at))); diff != "" {
			t.Errorf("grant %d changed by the move (-before +after):\n%s", i, diff)
		}
	}
	// The recency order survived: the oldest kept row is the first live.
	if !bytes.Equal(tr.slots[tr.oldest].deviceCodeHash(), live[0].DeviceCodeHash) {
		t.Errorf("the oldest kept row is not the first grant kept")
	}
}
