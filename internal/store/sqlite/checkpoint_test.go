package sqlite

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestFileSyncer: files are synced through the asynchronous path, one at a
// time however many goroutines ask, and an fsync the kernel refuses comes
// back as an error without breaking the syncer.
func TestFileSyncer(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	y, err := newFileSyncer(f)
	if err != nil {
		t.Skipf("no asynchronous fsync here (%v): the checkpointer lets SQLite sync", err)
	}
	defer y.close()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				if _, err := f.Write(bytes.Repeat([]byte{'x'}, 1<<20)); err != nil {
					t.Error(err)
					return
				}
				if err := y.sync(f); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := y.sync(w); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("fsync of a pipe: %v, want EINVAL", err)
	}
	if err := y.sync(f); err != nil {
		t.Errorf("fsync after a refused one: %v", err)
	}
}

// failingSyncer fails the fsyncs of the files fail picks, as a failing disk
// would.
type failingSyncer struct {
	syncer
	fail func(*os.File) bool
}

func (y failingSyncer) sync(f *os.File) error {
	if y.fail(f) {
		return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.EIO}
	}
	return y.syncer.sync(f)
}

// TestCheckpointSyncFailure: when the fsync of the database file fails
// after a checkpoint copied pages into it, or the WAL's before it copies
// any, the checkpointer stops, Ping reports it, writes go on into the WAL,
// and the WAL is kept whole — even past Close, which would otherwise copy
// it and delete it — so that no frame whose copy may not be on disk is
// lost.
func TestCheckpointSyncFailure(t *testing.T) {
	for _, suffix := range []string{"", "-wal"} {
		t.Run("fsync of ssooidc.db"+suffix+" fails", func(t *testing.T) { testCheckpointSyncFailure(t, suffix) })
	}
}

func testCheckpointSyncFailure(t *testing.T, failing string) {
	path := filepath.Join(t.TempDir(), "ssooidc.db")
	s, err := open(t.Context(), path, checkpointPolicy{every: time.Millisecond, walBound: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if s.fsync == nil {
		s.Close()
		t.Skip("no asynchronous fsync here: SQLite syncs its checkpoints itself")
	}
	s.fsync = failingSyncer{s.fsync, func(f *os.File) bool { return f.Name() == s.path+failing }}
	const grants = 200
	for i := range grants {
		if err := s.CreateDeviceGrant(t.Context(), grantN(i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-s.checkpointerDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the checkpointer goes on after a failed fsync")
	}
	if err := s.Ping(t.Context()); !errors.Is(err, errSyncFailed) || !errors.Is(err, syscall.EIO) {
		t.Errorf("Ping: %v, want the failed fsync", err)
	}
	if err := s.CreateDeviceGrant(t.Context(), grantN(grants)); err != nil {
		t.Fatalf("a write after the failure: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	defer func() { // what the stopped checkpointer holds for the process's life
		s.checkpointHolds.Rollback()
		s.dbFile.Close()
	}()
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the WAL after Close: %v, %v; want it kept", fi, err)
	}
	db, err := sql.Open("sqlite", dsn(path, true, "NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM device_grants`).Scan(&n); err != nil || n != grants+1 {
		t.Errorf("%d grants (%v), want %d", n, err, grants+1)
	}
}
