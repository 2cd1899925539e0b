package sqlite

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

// liveInTable is what the dropped index counted: the client's pending,
// unexpired grants, read from the table.
func liveInTable(t *testing.T, s *Store, clientID string, now time.Time) int {
	t.Helper()
	var n int
	if err := s.reader.QueryRowContext(t.Context(), `SELECT count(*) FROM device_grants
		WHERE client_id = ? AND expires_at > ? AND status = ?`,
		clientID, now.UnixMicro(), string(store.DevicePending)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func checkLiveCount(t *testing.T, s *Store, clientID string, now time.Time) {
	t.Helper()
	got, err := s.CountLiveDeviceGrants(t.Context(), clientID, now)
	if err != nil {
		t.Fatalf("CountLiveDeviceGrants: %v", err)
	}
	if want := liveInTable(t, s, clientID, now); got != want {
		t.Errorf("CountLiveDeviceGrants(%s, t0+%v) = %d, the table has %d", clientID, now.Sub(t0), got, want)
	}
}

// TestLiveGrantCount: the in-memory count agrees with the table through
// every change a grant goes through, before and after a restart, and when
// it is first built while grants are being written.
func TestLiveGrantCount(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ssooidc.db")
	s := openTest(t, path)
	grant := func(i int, client string, ttl time.Duration) store.DeviceGrant {
		g := grantN(i)
		g.ClientID = client
		g.ExpiresAt = t0.Add(ttl)
		return g
	}
	// Written before the first count, then counted from the table.
	for i := range 10 {
		if err := s.CreateDeviceGrant(ctx, grant(i, fmt.Sprintf("c%d", i%2), time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	noExpiry := grant(10, "c0", 0)
	noExpiry.ExpiresAt = time.Time{}
	if err := s.CreateDeviceGrant(ctx, noExpiry); err != nil {
		t.Fatal(err)
	}
	checkLiveCount(t, s, "c0", t0)
	// A write the build saw, settling after it (the race the concurrent
	// writes below may or may not hit), is not counted twice.
	var rowid int64
	if err := s.reader.QueryRowContext(ctx, `SELECT rowid FROM device_grants WHERE device_code_hash = ?`,
		grantN(8).DeviceCodeHash).Scan(&rowid); err != nil {
		t.Fatal(err)
	}
	s.live.created(grant(8, "c0", 9*time.Minute), rowid)
	checkLiveCount(t, s, "c0", t0)
	// Written after it, then decided (either way) and redeemed.
	for i := 20; i < 24; i++ {
		if err := s.CreateDeviceGrant(ctx, grant(i, "c0", time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	checkLiveCount(t, s, "c0", t0)
	for i, approve := range map[int]bool{0: true, 2: false, 20: true, 21: false} {
		if _, err := s.DecideDeviceGrant(ctx, grantN(i).UserCodeHash, "u1", approve, t0); err != nil {
			t.Fatal(err)
		}
	}
	tokens := store.TokenSet{
		Family:  store.TokenFamily{ID: "f20", ClientID: "c0", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
		Access:  store.AccessToken{Hash: []byte("access-20"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
		Refresh: store.RefreshToken{Hash: []byte("refresh-20"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
	}
	if err := s.RedeemDeviceGrant(ctx, grantN(20).DeviceCodeHash, tokens); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{0, 3 * time.Minute, 30 * time.Minute, 2 * time.Hour} {
		checkLiveCount(t, s, "c0", t0.Add(at))
		checkLiveCount(t, s, "c1", t0.Add(at))
	}
	// Deleted once due.
	if _, err := s.DeleteExpired(ctx, t0.Add(5*time.Minute), 0, 100); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{0, 6 * time.Minute} {
		checkLiveCount(t, s, "c0", t0.Add(at))
		checkLiveCount(t, s, "c1", t0.Add(at))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart, the first count builds while writes go on: none is
	// missed or counted twice.
	s = openTest(t, path)
	var wg sync.WaitGroup
	writing := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				if err := s.CreateDeviceGrant(ctx, grant(100+w*50+i, "c2", time.Hour)); err != nil {
					t.Error(err)
					return
				}
				if w == 0 && i == 10 {
					close(writing)
				}
			}
		})
	}
	wg.Go(func() {
		<-writing
		if _, err := s.CountLiveDeviceGrants(ctx, "c2", t0); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	for _, c := range []string{"c0", "c1", "c2"} {
		checkLiveCount(t, s, c, t0)
	}
	if got := liveInTable(t, s, "c2", t0); got != 200 {
		t.Errorf("the table has %d live grants of c2, want 200", got)
	}
}

// TestDeleteExpiredGrantsInRowOrder: grants are purged from the front of
// the table, and one that is due behind many that are not (the grant
// lifetime was shortened) is still found, within one pass over the table.
func TestDeleteExpiredGrantsInRowOrder(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "ssooidc.db"))
	const limit = 2
	scan := sweepPerLimit * limit
	var due, notDue []store.DeviceGrant
	create := func(i int, expires time.Time) store.DeviceGrant {
		g := grantN(i)
		g.ExpiresAt = expires
		if err := s.CreateDeviceGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	for i := range 3 * scan {
		notDue = append(notDue, create(i, t0.Add(time.Hour)))
	}
	for i := range 5 {
		due = append(due, create(1000+i, t0.Add(time.Minute)))
	}
	present := func(g store.DeviceGrant) bool {
		_, err := s.GetDeviceGrantByUserCode(ctx, g.UserCodeHash)
		return err == nil
	}
	now := t0.Add(2 * time.Minute)
	removed, calls := 0, 0
	// Three slices of scan rows before the due ones, then the due ones
	// limit at a time.
	for ; removed < len(due) && calls < 3+(len(due)+limit-1)/limit; calls++ {
		n, err := s.DeleteExpired(ctx, now, 0, limit)
		if err != nil {
			t.Fatal(err)
		}
		removed += n
	}
	if removed != len(due) {
		t.Fatalf("%d of %d due grants removed in %d calls", removed, len(due), calls)
	}
	for _, g := range due {
		if present(g) {
			t.Errorf("due grant %s still there", g.UserCodeHash)
		}
	}
	for _, g := range notDue {
		if !present(g) {
			t.Fatalf("grant %s removed before it was due", g.UserCodeHash)
		}
	}

	// In issue order, each call removes limit grants from the front.
	for i := range 3 * limit {
		due = append(due, create(2000+i, t0.Add(time.Minute)))
	}
	if _, err := s.DeleteExpired(ctx, t0.Add(90*time.Minute), 0, limit); err != nil {
		t.Fatal(err)
	}
	for i, g := range notDue {
		if want := i >= limit; present(g) != want {
			t.Errorf("grant %d of %d present = %v after one call", i, len(notDue), !want)
		}
	}
}
