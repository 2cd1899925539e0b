package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/ssooidc/ssooidc/internal/store"
)

// Grouped grant inserts. StartDeviceAuthorization is a hot write: one
// INSERT, each its own round trip, commit and WAL flush. The inserter runs
// the grants that arrive while an insert is in flight as one multi-row
// INSERT: one round trip and one flush for all of them. A caller returns
// after the statement that holds its row has committed, so every grant is
// exactly as durable as before. A multi-row INSERT fails as a whole (a
// code hash taken, say), so a failed batch is inserted again row by row and
// each caller gets its own answer.

// maxGrantBatch bounds the rows of one INSERT.
const maxGrantBatch = 64

type grantInsert struct {
	ctx  context.Context
	g    store.DeviceGrant
	err  error
	done chan struct{}
}

var errClosed = errors.New("postgres: store closed")

// insertGrant queues g for the inserter and waits for its outcome.
func (s *Store) insertGrant(ctx context.Context, g store.DeviceGrant) error {
	j := &grantInsert{ctx: ctx, g: g, done: make(chan struct{})}
	select {
	case s.inserts <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return errClosed
	}
	<-j.done // once taken it may commit: wait for the outcome
	return j.err
}

// insertLoop is the inserter: it takes a grant and whatever else is queued
// behind it, and inserts them together, until the store closes.
func (s *Store) insertLoop() {
	defer close(s.inserterDone)
	batch := make([]*grantInsert, 0, maxGrantBatch)
	for {
		select {
		case j := <-s.inserts:
			batch = append(batch[:0], j)
		case <-s.closing:
			return
		}
	drain:
		for len(batch) < maxGrantBatch {
			select {
			case j := <-s.inserts:
				batch = append(batch, j)
			default:
				break drain
			}
		}
		s.insertBatch(batch)
		clear(batch)
	}
}

func (s *Store) insertBatch(batch []*grantInsert) {
	live := batch[:0:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.finish(err) // cancelled while waiting: never sent
			continue
		}
		live = append(live, j)
	}
	if len(live) > 1 && s.insertRows(context.WithoutCancel(live[0].ctx), live) == nil {
		for _, j := range live {
			j.finish(nil)
		}
		return
	}
	for _, j := range live {
		j.finish(s.insertRows(context.WithoutCancel(j.ctx), []*grantInsert{j}))
	}
}

// insertRows inserts the jobs' grants in one statement, with run's retries.
func (s *Store) insertRows(ctx context.Context, jobs []*grantInsert) error {
	cols := strings.Count(deviceGrantCols, ",") + 1
	var sql strings.Builder
	sql.WriteString(`INSERT INTO device_grants (` + deviceGrantCols + `) VALUES `)
	args := make([]any, 0, cols*len(jobs))
	for i, j := range jobs {
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteByte('(')
		for c := range cols {
			if c > 0 {
				sql.WriteString(", ")
			}
			sql.WriteByte('$')
			sql.WriteString(strconv.Itoa(i*cols + c + 1))
		}
		sql.WriteByte(')')
		g := j.g
		args = append(args, g.DeviceCodeHash, g.UserCodeHash, g.ClientID, list(g.Scopes), g.StartURL, string(g.Status),
			g.Interval.Microseconds(), micros(g.CreatedAt), micros(g.ExpiresAt), micros(g.LastPollAt),
			micros(g.PrevPollAt), g.UserID, micros(g.DecidedAt), cleanText(g.RequestIP), cleanText(g.RequestUserAgent))
	}
	return s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, sql.String(), args...)
		return err
	})
}

func (j *grantInsert) finish(err error) {
	j.err = err
	close(j.done)
}
