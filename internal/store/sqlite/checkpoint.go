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
// the database file): every write waits for the copy and both syncs, which
// on a busy server is a stall many times a second.
//
// Here a connection of its own checkpoints in the background, PASSIVE (it
// never blocks the writer or a reader), at most every checkpointEvery while
// writes happen. The writer's automatic checkpoint stays as the bound on
// the WAL's size, at autoCheckpointPages: by the time it comes due the
// background has usually copied everything, and a checkpoint with nothing
// left to copy syncs nothing — it only lets the next write start the WAL
// again from its beginning. Durability is unchanged: commits are what they
// were (synchronous=NORMAL), and a checkpoint syncs the WAL before copying
// from it and the database file after, whichever connection runs it.
const (
	checkpointEvery     = 200 * time.Millisecond
	autoCheckpointPages = 4096 // 16 MiB of 4 KiB pages
)

// kickCheckpoint tells the checkpointer that the WAL grew.
func (s *Store) kickCheckpoint() {
	select {
	case s.checkpointKick <- struct{}{}:
	default:
	}
}

// checkpointLoop runs PASSIVE checkpoints on db after writes, at most every
// checkpointEvery, until the store closes.
func (s *Store) checkpointLoop(db *sql.DB) {
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
		var busy, log, done int
		// An error (the database busy with another process's checkpoint,
		// say) leaves the work to the next round or to the writer.
		_ = db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done)
		t.Reset(checkpointEvery)
		select {
		case <-t.C:
		case <-s.closing:
			return
		}
	}
}
