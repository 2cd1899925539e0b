package sqlite

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

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

// TestPollsPruned: the bookkeeping of a grant goes with its row.
func TestPollsPruned(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	for i := range 3 {
		g := grantN(i)
		if i == 2 {
			g.ExpiresAt = t0.Add(time.Hour) // outlives the collection below
		}
		if err := s.CreateDeviceGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.PollDeviceGrant(ctx, g.DeviceCodeHash, "c1", t0, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.polls.grants); n != 3 {
		t.Fatalf("%d grants tracked, want 3", n)
	}
	if _, err := s.DeleteExpired(ctx, t0.Add(30*time.Minute), time.Minute, 100); err != nil {
		t.Fatal(err)
	}
	if n := len(s.polls.grants); n != 1 {
		t.Errorf("%d grants tracked after collection, want 1", n)
	}
	if _, _, err := s.PollDeviceGrant(ctx, grantN(0).DeviceCodeHash, "c1", t0, time.Second); err == nil {
		t.Errorf("poll of a collected grant: no error")
	} else if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("poll of a collected grant: %v, want ErrNotFound", err)
	}
}
