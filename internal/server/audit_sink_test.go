package server

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/store"
)

// batchStore records the size of each batch the audit writer appends.
type batchStore struct {
	store.AuditEvents // only AppendAuditEvents is called
	mu                sync.Mutex
	batches           []int
	wrote             chan struct{} // signalled after a batch
}

func (s *batchStore) AppendAuditEvents(_ context.Context, events []store.AuditEvent) error {
	s.mu.Lock()
	s.batches = append(s.batches, len(events))
	s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return nil
}

func (s *batchStore) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// startSink runs a writer over a batchStore, with queued events already
// waiting, until the test ends or cancel is called.
func startSink(t *testing.T, queued int) (*auditSink, *batchStore, context.CancelFunc, <-chan struct{}) {
	st := &batchStore{wrote: make(chan struct{}, 1)}
	a := newAuditSink(st, slog.New(slog.DiscardHandler))
	addEvents(a, queued)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return a, st, cancel, done
}

func addEvents(a *auditSink, n int) {
	for range n {
		a.add(context.Background(), audit.Event{Type: "device.started"})
	}
}

func (a *auditSink) flushNow() {
	done := make(chan struct{})
	a.flush <- done
	<-done
}

// TestAuditSinkBatches: queued events go in full batches, a flush writes
// the rest without waiting for the linger, and shutdown writes what is
// left.
func TestAuditSinkBatches(t *testing.T) {
	a, st, cancel, done := startSink(t, 2*auditBatch+44)
	a.flushNow()
	if got, want := st.sizes(), []int{auditBatch, auditBatch, 44}; !slices.Equal(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
	addEvents(a, 3)
	cancel()
	<-done
	if got, want := st.sizes(), []int{auditBatch, auditBatch, 44, 3}; !slices.Equal(got, want) {
		t.Errorf("after shutdown, batches %v, want %v", got, want)
	}
}

// TestAuditSinkLinger: without a flush, an event is written once the
// linger has passed, not before.
func TestAuditSinkLinger(t *testing.T) {
	a, st, _, _ := startSink(t, 0)
	start := time.Now()
	addEvents(a, 3)
	select {
	case <-st.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the events were not written")
	}
	if waited := time.Since(start); waited < auditLinger {
		t.Errorf("written after %v, before the linger of %v", waited, auditLinger)
	}
	a.flushNow()
	total := 0
	for _, n := range st.sizes() {
		total += n
	}
	if total != 3 {
		t.Errorf("batches %v, want 3 events in all", st.sizes())
	}
}
