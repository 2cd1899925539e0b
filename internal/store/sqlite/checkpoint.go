package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"
)

// Checkpoints. In WAL mode a commit appends pages to the -wal file and a
// checkpoint copies them back into the database file. By default SQLite
// runs that checkpoint inside the commit that takes the WAL past 1000
// pages, on the writer, with synchronous=NORMAL's two fsyncs (the WAL, then
// the database file): every write waits for the copy and both syncs.
// Worse, under steady writes the WAL never finds a moment to start again
// from its beginning, so once past the threshold every commit checkpoints:
// a profile showed the committer blocked in those fsyncs (up to 18 ms
// each) while the server's only core sat idle.
//
// Here the writer never checkpoints (wal_autocheckpoint=0 on its
// connection). A connection of its own checkpoints in the background,
// PASSIVE (it never blocks the writer or a reader), at most every 100 ms
// while writes happen. A WAL that is entirely copied starts again from its
// beginning at the next write — but commits keep landing during a
// background checkpoint, so under load that moment may never come by
// itself. Once the WAL holds 16384 pages (64 MiB), the checkpointer
// therefore runs one more checkpoint with the commit gate held: it copies
// only what was committed since the one before, nothing commits
// meanwhile, and the next write starts the WAL over. That bounds the WAL at
// the cost of one short pause of the commits per 64 MiB written.
// (Checkpointing every 25 ms kept the WAL small without any pause, but
// cost a quarter to a third of the peak rate of writes: a write that starts
// the WAL over rewrites pages the last checkpoint's fsync may still be
// writing.)
//
// The fsyncs. SQLite's own are blocking system calls, and a goroutine in
// one keeps its P until the runtime takes it back, up to ~20 ms later: on
// a server limited to one P, a long checkpoint fsync stalled every request
// (the p99 stalls of docs/performance.md). Where the platform can wait for
// an fsync without holding a P (fileSyncer), the checkpointer does the two
// fsyncs itself, in SQLite's order, and its connections run with
// synchronous=OFF:
//  1. It opens a read transaction. The checkpoint copies no frame
//     committed after it, and while it is open the WAL cannot start over
//     (a WAL restart needs every reader's lock but the one of readers who
//     read no frame of it, and such a reader keeps the checkpoint from
//     copying anything).
//  2. It fsyncs the WAL: every frame the copy may take is durable first.
//  3. It checkpoints (PASSIVE; SQLite fsyncs nothing).
//  4. It fsyncs the database file, then ends the read transaction: the
//     copied pages are durable before the frames holding them can be
//     overwritten.
//
// Durability is unchanged: commits are what they were (synchronous=NORMAL),
// and no frame is copied before the WAL is synced, nor overwritten before
// the database file is. After a failed fsync the checkpointer stops, and
// holds its read transaction while the process lives: the WAL keeps every
// frame, so after a restart (SQLite then rebuilds the WAL's index) the
// first checkpoint copies all of them again. Ping reports the failure.
type checkpointPolicy struct {
	every       time.Duration // the least time between two background checkpoints
	walBound    int           // the WAL size, in pages, at which the checkpointer starts it over
	sqliteSyncs bool          // let SQLite sync, even where the checkpointer could (tests)
}

var defaultCheckpoints = checkpointPolicy{every: 100 * time.Millisecond, walBound: 16384 /* 64 MiB of 4 KiB pages */}

// syncer fsyncs files without holding a P (fileSyncer).
type syncer interface {
	sync(*os.File) error
	close() error
}

// openCheckpointer opens the checkpointer's connections, and the files it
// syncs if it can sync them itself.
func (s *Store) openCheckpointer(p checkpointPolicy) error {
	synchronous := "NORMAL"
	if !p.sqliteSyncs {
		// This descriptor of the database file is closed only after every
		// connection: closing one drops the process's POSIX locks on the
		// file, SQLite's included.
		f, err := os.Open(s.path)
		if err != nil {
			return fmt.Errorf("checkpointer: %w", err)
		}
		s.dbFile = f
		if y, err := newFileSyncer(f); err == nil {
			s.fsync = y
			synchronous = "OFF"
		}
	}
	db, err := sql.Open("sqlite", dsn(s.path, false, synchronous))
	if err != nil {
		return fmt.Errorf("checkpointer: %w", err)
	}
	// One connection checkpoints, the other holds the read transaction.
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	s.checkpointer = db
	return nil
}

// closeCheckpointFiles closes what openCheckpointer opened beside the
// connections, once; every connection is closed by now.
func (s *Store) closeCheckpointFiles() error {
	var errs []error
	files := []**os.File{&s.walFile, &s.dbFile}
	if s.checkpointHolds != nil {
		files = files[:1] // its connection is still open, and keeps its locks
	}
	for _, f := range files {
		if *f != nil {
			errs = append(errs, (*f).Close())
			*f = nil
		}
	}
	if s.fsync != nil {
		errs = append(errs, s.fsync.close())
		s.fsync = nil
	}
	return errors.Join(errs...)
}

// kickCheckpoint tells the checkpointer that the WAL grew.
func (s *Store) kickCheckpoint() {
	select {
	case s.checkpointKick <- struct{}{}:
	default:
	}
}

// checkpointLoop runs checkpoints after writes, at most every p.every,
// until the store closes or a checkpoint's fsync fails.
func (s *Store) checkpointLoop(p checkpointPolicy) {
	defer close(s.checkpointerDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.closing
		cancel()
	}()
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-s.checkpointKick:
		case <-s.closing:
			return
		}
		walPages, err := s.checkpoint(ctx)
		if err == nil && walPages >= p.walBound {
			s.commitGate.Lock()
			_, err = s.checkpoint(ctx)
			s.commitGate.Unlock()
		}
		if errors.Is(err, errSyncFailed) {
			s.checkpointFailed.Store(&err)
			return
		}
		// Another error (the database busy with another process's
		// checkpoint, say) leaves the work to the next round.
		t.Reset(p.every)
		select {
		case <-t.C:
		case <-s.closing:
			return
		}
	}
}

// errSyncFailed marks a checkpoint whose fsync failed.
var errSyncFailed = errors.New("a checkpoint's fsync failed; the checkpointer stopped and keeps the WAL whole: restart the server once the disk is sound")

// checkpoint runs a PASSIVE checkpoint and returns the WAL's size in pages.
func (s *Store) checkpoint(ctx context.Context) (walPages int, err error) {
	if s.fsync == nil {
		return passiveCheckpoint(ctx, s.checkpointer)
	}
	// Not ended by ctx: after a failed fsync it is held past the loop.
	snapshot, err := s.checkpointer.BeginTx(context.WithoutCancel(ctx), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	held := false
	defer func() {
		if held {
			s.checkpointHolds = snapshot
		} else {
			snapshot.Rollback()
		}
	}()
	var tables int // a read, so that the transaction takes its snapshot now
	if err := snapshot.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&tables); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	if err := s.syncWAL(); err != nil {
		held = errors.Is(err, errSyncFailed)
		return 0, err
	}
	if walPages, err = passiveCheckpoint(ctx, s.checkpointer); err != nil {
		return 0, err
	}
	if err := s.fsync.sync(s.dbFile); err != nil {
		held = true
		return 0, fmt.Errorf("checkpoint: %w: %w", errSyncFailed, err)
	}
	return walPages, nil
}

// syncWAL fsyncs the -wal file: the one SQLite writes to, as it keeps the
// file while any of the store's connections is open.
func (s *Store) syncWAL() error {
	path := s.path + "-wal"
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if s.walFile != nil {
		if held, err := s.walFile.Stat(); err != nil || !os.SameFile(held, fi) {
			s.walFile.Close() // no locks on the -wal file to lose
			s.walFile = nil
		}
	}
	if s.walFile == nil {
		if s.walFile, err = os.Open(path); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	if err := s.fsync.sync(s.walFile); err != nil {
		return fmt.Errorf("checkpoint: %w: %w", errSyncFailed, err)
	}
	return nil
}

// passiveCheckpoint runs a PASSIVE checkpoint on db and returns the WAL's
// size in pages.
func passiveCheckpoint(ctx context.Context, db *sql.DB) (walPages int, err error) {
	var busy, done int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walPages, &done); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	return walPages, nil
}
