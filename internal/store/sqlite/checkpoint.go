package sqlite

import (
	"context"
	"database/sql"
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
// while writes happen; its fsyncs wait on the disk while requests go on.
// A WAL that is entirely copied starts again from its beginning at the
// next write — but commits keep landing during a background checkpoint,
// so under load that moment may never come by itself. Once the WAL holds
// 16384 pages (64 MiB), the checkpointer therefore runs one more PASSIVE
// checkpoint with the commit gate held: it copies only what was committed
// since the one before, nothing commits meanwhile, and the next write
// starts the WAL over. That bounds the WAL at the cost of one short pause
// of the commits (5–20 ms here, mostly the two fsyncs) per 64 MiB written.
// (Checkpointing every 25 ms kept the WAL small without any pause, but
// cost a quarter to a third of the peak rate of writes: a write that starts the WAL
// over rewrites pages the last checkpoint's fsync may still be writing.)
// Durability is unchanged: commits are what they were
// (synchronous=NORMAL), and a checkpoint syncs the WAL before copying from
// it and the database file after.
type checkpointPolicy struct {
	every    time.Duration // the least time between two background checkpoints
	walBound int           // the WAL size, in pages, at which the checkpointer starts it over
}

var defaultCheckpoints = checkpointPolicy{every: 100 * time.Millisecond, walBound: 16384 /* 64 MiB of 4 KiB pages */}

// kickCheckpoint tells the checkpointer that the WAL grew.
func (s *Store) kickCheckpoint() {
	select {
	case s.checkpointKick <- struct{}{}:
	default:
	}
}

// checkpointLoop runs PASSIVE checkpoints on db after writes, at most every
// p.every, until the store closes.
func (s *Store) checkpointLoop(db *sql.DB, p checkpointPolicy) {
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
		// An error (the database busy with another process's checkpoint,
		// say) leaves the work to the next round.
		if checkpoint(ctx, db) >= p.walBound {
			s.commitGate.Lock()
			checkpoint(ctx, db)
			s.commitGate.Unlock()
		}
		t.Reset(p.every)
		select {
		case <-t.C:
		case <-s.closing:
			return
		}
	}
}

// checkpoint runs a PASSIVE checkpoint on db and returns the WAL's size in
// pages (0 after an error).
func checkpoint(ctx context.Context, db *sql.DB) (walPages int) {
	var busy, done int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walPages, &done); err != nil {
		return 0
	}
	return walPages
}
