package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"

	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ssooidc/ssooidc/internal/store"
)

// Group commit. The hot writes (a device authorization's grant, a refresh
// token's rotation) come from many concurrent requests, and each would be a
// transaction of its own: a WAL append of every page it touched, and the
// write lock taken and released. The committer runs the writes that are
// waiting at the same moment in one transaction on the writer connection
// and commits once; a caller returns only after that commit, so every
// write is exactly as durable as before and the writer still serialises
// them, in order. A write whose failure could leave some of its statements
// behind runs inside a savepoint, so that one write's failure undoes only
// that write (a rotation needs none: see RotateRefreshToken).
//
// A write whose error means SQLite may have rolled back the whole
// transaction (anything but the contract's own outcomes and constraint
// violations) aborts the batch: it is rolled back and each write in it is
// run again alone, so no caller ever sees another's failure.

// maxBatch bounds how many writes share one transaction.
const maxBatch = 64

// writeFunc runs one write on tx. It may return keep(err): the writes
// stand and err is the caller's answer (a detected refresh token reuse
// revokes the family and reports ErrReused).
type writeFunc func(ctx context.Context, tx *wtx) error

type keptError struct{ err error }

func (k *keptError) Error() string { return k.err.Error() }
func (k *keptError) Unwrap() error { return k.err }

// keep marks err as an answer whose writes must be committed.
func keep(err error) error { return &keptError{err} }

type writeJob struct {
	ctx   context.Context
	fn    writeFunc
	multi bool // a failure may leave some of its writes: isolate in a savepoint
	err   error
	done  chan struct{}
}

var errClosed = errors.New("sqlite: store closed")

// write runs fn in the next group commit and returns its outcome after the
// commit. multi says a failure of fn may leave some of its writes behind
// (several statements that do not undo their own).
func (s *Store) write(ctx context.Context, multi bool, fn writeFunc) error {
	j := &writeJob{ctx: ctx, fn: fn, multi: multi, done: make(chan struct{})}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return errClosed
	}
	<-j.done // once taken the write may commit: wait for the outcome
	if k, ok := j.err.(*keptError); ok {
		return k.err
	}
	return j.err
}

// commitLoop is the committer: it takes a write, lets the other runnable
// goroutines queue theirs, and runs all that are waiting together.
func (s *Store) commitLoop() {
	defer close(s.committerDone)
	defer s.closeWriteStmts()
	batch := make([]*writeJob, 0, maxBatch)
	for {
		var first *writeJob
		select {
		case first = <-s.jobs:
		case <-s.closing:
			return
		}
		// Requests that are ready to write are runnable goroutines right
		// now; yielding once lets them reach the queue, so that on a busy
		// server (and on one core especially) they share this commit
		// instead of each waking the committer for a commit of its own.
		runtime.Gosched()
		batch = append(batch[:0], first)
	drain:
		for len(batch) < maxBatch {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break drain
			}
		}
		s.commitGate.Lock()
		s.commitBatch(batch)
		s.commitGate.Unlock()
		clear(batch)
	}
}

// commitBatch runs the jobs in one transaction, or each alone when the
// shared one fails.
func (s *Store) commitBatch(batch []*writeJob) {
	live := batch[:0:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.finish(err) // cancelled while waiting: never started
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	if len(live) > 1 && s.runTogether(live) {
		return
	}
	for _, j := range live {
		s.runTogether([]*writeJob{j})
	}
}

// runTogether runs jobs in one transaction and finishes them all, unless
// the transaction had to be abandoned with more than one job in it: then it
// finishes none and reports false, for the jobs to be run one by one.
func (s *Store) runTogether(jobs []*writeJob) bool {
	ctx := context.Background()
	finishAll := func(err error) bool {
		for _, j := range jobs {
			j.finish(err)
		}
		return true
	}
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return finishAll(err)
	}
	defer conn.Close()
	var done bool
	err = conn.Raw(func(dc any) error {
		t, err := s.begin(ctx, dc)
		if err != nil {
			done = finishAll(err)
			return nil
		}
		done = s.runIn(ctx, t, jobs, finishAll)
		return nil
	})
	if err != nil {
		return finishAll(err)
	}
	return done
}

// begin starts a group commit's transaction on the writer's driver
// connection dc, preparing the statements on it the first time.
func (s *Store) begin(ctx context.Context, dc any) (*wtx, error) {
	conn, ok := dc.(rawConn)
	if !ok {
		return nil, fmt.Errorf("sqlite: the driver's connection is a %T", dc)
	}
	t := &s.batch
	if t.stmts == nil || t.stmts.conn != conn {
		// A new connection (the first, or one database/sql replaced
		// after an error, taking the old one's statements with it).
		ws, err := prepareWriteStmts(ctx, conn)
		if err != nil {
			return nil, err
		}
		t.conn, t.stmts = conn, ws
	}
	tx, err := conn.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return nil, err
	}
	t.tx = tx
	return t, nil
}

// runIn runs jobs in t; see runTogether.
func (s *Store) runIn(ctx context.Context, t *wtx, jobs []*writeJob, finishAll func(error) bool) bool {
	shared := len(jobs) > 1
	exec := func(st rawStmt) error {
		_, err := t.exec(ctx, st)
		return err
	}
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		savepoint := shared && j.multi
		if savepoint {
			if err := exec(t.stmts.savepoint); err != nil {
				t.tx.Rollback()
				return !shared && finishAll(err)
			}
		}
		err := j.fn(context.WithoutCancel(j.ctx), t)
		_, kept := err.(*keptError)
		switch {
		case err == nil || kept:
			if savepoint {
				if err := exec(t.stmts.release); err != nil {
					t.tx.Rollback()
					return false
				}
			}
		case !answerOnly(err):
			// SQLite may have rolled the whole transaction back.
			t.tx.Rollback()
			return !shared && finishAll(err)
		case savepoint:
			if exec(t.stmts.rollbackTo) != nil || exec(t.stmts.release) != nil {
				t.tx.Rollback()
				return false
			}
		case j.multi:
			// Alone, so the transaction is this write's: undo all of it.
			t.tx.Rollback()
			return finishAll(err)
		}
		// A single statement that failed a constraint was undone by
		// SQLite (and a write that is not multi undoes its own).
		errs[i] = err
	}
	if err := t.tx.Commit(); err != nil {
		t.tx.Rollback() // a failed COMMIT may leave the transaction open
		return finishAll(err)
	}
	s.kickCheckpoint()
	for i, j := range jobs {
		j.finish(errs[i])
	}
	return true
}

// closeWriteStmts finalizes the committer's statements on their
// connection, so that closing the writer closes the database file.
func (s *Store) closeWriteStmts() {
	ws := s.batch.stmts
	if ws == nil {
		return
	}
	s.batch = wtx{}
	conn, err := s.writer.Conn(context.Background())
	if err != nil {
		return
	}
	defer conn.Close()
	conn.Raw(func(dc any) error {
		if dc == any(ws.conn) {
			ws.close()
		}
		return nil
	})
}

func (j *writeJob) finish(err error) {
	j.err = err
	close(j.done)
}

// answerOnly reports whether err is an answer that leaves the transaction
// usable: one of the contract's outcomes (found before writing, or kept),
// or a constraint violation, which SQLite undoes for its one statement.
func answerOnly(err error) bool {
	if _, ok := err.(*keptError); ok {
		return true
	}
	for _, s := range []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrConsumed, store.ErrReused, store.ErrRevoked, store.ErrExpired} {
		if errors.Is(err, s) {
			return true
		}
	}
	var se *sqlitedriver.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}
