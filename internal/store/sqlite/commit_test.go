package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

func grantN(i int) store.DeviceGrant {
	return store.DeviceGrant{
		DeviceCodeHash: fmt.Appendf(nil, "device-%03d", i),
		UserCodeHash:   fmt.Appendf(nil, "user-%03d", i),
		ClientID:       "c1",
		Status:         store.DevicePending,
		Interval:       time.Second,
		CreatedAt:      t0,
		ExpiresAt:      t0.Add(10 * time.Minute),
	}
}

// insertJob is a write job that inserts g, as CreateDeviceGrant does.
func insertJob(s *Store, g store.DeviceGrant) *writeJob {
	return &writeJob{ctx: context.Background(), done: make(chan struct{}), fn: func(ctx context.Context, tx *wtx) error {
		_, err := tx.exec(ctx, tx.stmts.insertGrant,
			g.DeviceCodeHash, g.UserCodeHash, g.ClientID, list(g.Scopes), g.StartURL, string(g.Status),
			g.Interval.Microseconds(), micros(g.CreatedAt), micros(g.ExpiresAt), micros(g.LastPollAt),
			micros(g.PrevPollAt), g.UserID, micros(g.DecidedAt), g.RequestIP, g.RequestUserAgent)
		return wrap("create device grant", err)
	}}
}

// grantExists reads the table itself: insertJob writes below the store's
// user code index.
func grantExists(t *testing.T, s *Store, g store.DeviceGrant) bool {
	t.Helper()
	_, err := scanDeviceGrant(s.getGrant.QueryRowContext(t.Context(), g.DeviceCodeHash))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("read grant: %v", err)
	}
	return err == nil
}

// TestGroupCommitIsolates runs one batch whose writes fail in each way a
// write can: a constraint (undone by SQLite for its statement), a write of
// several statements that fails after writing (undone by its savepoint), a
// kept error (its writes stand), and an error that may have cost the
// transaction (the batch is run again write by write). Every other write
// commits, and each caller gets its own outcome.
func TestGroupCommitIsolates(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	if err := s.CreateDeviceGrant(ctx, grantN(0)); err != nil {
		t.Fatal(err)
	}
	dup := grantN(1)
	dup.DeviceCodeHash = grantN(0).DeviceCodeHash // taken
	partial := &writeJob{ctx: ctx, multi: true, done: make(chan struct{}), fn: func(ctx context.Context, tx *wtx) error {
		if err := insertJob(s, grantN(2)).fn(ctx, tx); err != nil {
			return err
		}
		return insertJob(s, grantN(0)).fn(ctx, tx) // taken: the first insert must go too
	}}
	kept := &writeJob{ctx: ctx, multi: true, done: make(chan struct{}), fn: func(ctx context.Context, tx *wtx) error {
		if err := insertJob(s, grantN(3)).fn(ctx, tx); err != nil {
			return err
		}
		return keep(fmt.Errorf("answer: %w", store.ErrReused))
	}}
	jobs := []*writeJob{insertJob(s, grantN(4)), insertJob(s, dup), partial, kept, insertJob(s, grantN(5))}
	s.commitBatch(jobs)
	for i, want := range []error{nil, store.ErrAlreadyExists, store.ErrAlreadyExists, store.ErrReused, nil} {
		<-jobs[i].done
		if got := jobs[i].err; want == nil && got != nil || want != nil && !errors.Is(got, want) {
			t.Errorf("job %d: err = %v, want %v", i, got, want)
		}
	}
	for i, want := range map[int]bool{2: false, 3: true, 4: true, 5: true} {
		if got := grantExists(t, s, grantN(i)); got != want {
			t.Errorf("grant %d stored = %v, want %v", i, got, want)
		}
	}

	// An unexpected error: the shared transaction is abandoned and every
	// write is run again alone, so only the failing one fails.
	boom := errors.New("boom")
	var runs int
	bad := &writeJob{ctx: ctx, done: make(chan struct{}), fn: func(context.Context, *wtx) error { runs++; return boom }}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	gone := insertJob(s, grantN(8))
	gone.ctx = cancelled
	jobs = []*writeJob{insertJob(s, grantN(6)), bad, insertJob(s, grantN(7)), gone}
	s.commitBatch(jobs)
	for i, want := range []error{nil, boom, nil, context.Canceled} {
		<-jobs[i].done
		if got := jobs[i].err; !errors.Is(got, want) {
			t.Errorf("second batch, job %d: err = %v, want %v", i, got, want)
		}
	}
	if runs != 2 {
		t.Errorf("the failing write ran %d times, want 2 (in the batch, then alone)", runs)
	}
	for i, want := range map[int]bool{6: true, 7: true, 8: false} {
		if got := grantExists(t, s, grantN(i)); got != want {
			t.Errorf("grant %d stored = %v, want %v", i, got, want)
		}
	}
}

// TestGroupCommitConcurrent has many callers write at once: each gets its
// own answer, and every successful write is there afterwards.
func TestGroupCommitConcurrent(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			g := grantN(i)
			if i%10 == 9 {
				g.UserCodeHash = grantN(i - 1).UserCodeHash // collides with its neighbour
			}
			errs[i] = s.CreateDeviceGrant(ctx, g)
		})
	}
	wg.Wait()
	for i := range n {
		g := grantN(i)
		switch i % 10 {
		case 8: // it and the next share a user code: exactly one is stored
			if (errs[i] == nil) == (errs[i+1] == nil) {
				t.Errorf("grants %d and %d: errs %v, %v; want exactly one stored", i, i+1, errs[i], errs[i+1])
			}
			continue
		case 9:
			continue
		}
		if errs[i] != nil {
			t.Errorf("CreateDeviceGrant %d: %v", i, errs[i])
		}
		if !grantExists(t, s, g) {
			t.Errorf("grant %d missing", i)
		}
	}
}

// TestWriteAfterClose fails instead of waiting for a committer that is gone.
func TestWriteAfterClose(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "ssooidc.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDeviceGrant(t.Context(), grantN(1)); err == nil {
		t.Error("CreateDeviceGrant after Close: no error")
	}
}

// TestWALStartsOver: under writes that never pause, the checkpointer still
// brings the WAL back to its start once it holds the bound, so the -wal
// file stays near that size instead of growing with every commit; the
// writer itself never checkpoints. (Without the gated second checkpoint
// this WAL grew to 28–30 MiB; with it, 1.4–2.7 MiB.)
func TestWALStartsOver(t *testing.T) {
	t.Run("own fsyncs", func(t *testing.T) { testWALStartsOver(t, false) })
	t.Run("SQLite's fsyncs", func(t *testing.T) { testWALStartsOver(t, true) })
}

func testWALStartsOver(t *testing.T, sqliteSyncs bool) {
	path := filepath.Join(t.TempDir(), "ssooidc.db")
	s, err := open(t.Context(), path, checkpointPolicy{every: time.Millisecond, walBound: 32, sqliteSyncs: sqliteSyncs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !sqliteSyncs && s.fsync == nil {
		t.Skip("no asynchronous fsync here: SQLite syncs its checkpoints itself")
	}
	const writers, perWriter = 8, 400
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := s.CreateDeviceGrant(t.Context(), grantN(w*perWriter+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var largest int64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(time.Millisecond):
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	var n int
	if err := s.reader.QueryRowContext(t.Context(), `SELECT count(*) FROM device_grants`).Scan(&n); err != nil || n != writers*perWriter {
		t.Fatalf("%d grants stored (%v), want %d", n, err, writers*perWriter)
	}
	// 32 pages, plus what commits add while a round is due and the file
	// keeps its largest size, against ~28 MiB for all 3 200 grants' pages.
	if largest > 8<<20 {
		t.Errorf("the WAL grew to %d KiB", largest>>10)
	}
	t.Logf("largest WAL: %d KiB", largest>>10)
}
