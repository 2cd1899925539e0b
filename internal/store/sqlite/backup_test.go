package sqlite_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

// TestBackupUnderWriteLoad: a backup taken while writers run opens and
// holds every grant acknowledged before the backup began.
func TestBackupUnderWriteLoad(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "live.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	grant := func(w, i int) store.DeviceGrant {
		h := func(kind string) []byte {
			s := sha256.Sum256(fmt.Appendf(nil, "%s-%d-%d", kind, w, i))
			return s[:]
		}
		return store.DeviceGrant{DeviceCodeHash: h("d"), UserCodeHash: h("u"), ClientID: "c", Status: store.DevicePending,
			Interval: time.Second, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	}

	var mu sync.Mutex
	var acked []store.DeviceGrant
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				g := grant(w, i)
				if err := st.CreateDeviceGrant(ctx, g); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				acked = append(acked, g)
				mu.Unlock()
			}
		})
	}
	// Let the writers run, then back up while they keep writing.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	before := append([]store.DeviceGrant(nil), acked...)
	mu.Unlock()
	backup := filepath.Join(dir, "backup.db")
	if err := st.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()

	copyStore, err := sqlite.Open(ctx, backup)
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	defer copyStore.Close()
	for _, g := range before {
		if _, err := copyStore.GetDeviceGrantByUserCode(ctx, g.UserCodeHash); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				t.Fatalf("an acknowledged grant is missing from the backup (%d acknowledged before it)", len(before))
			}
			t.Fatal(err)
		}
	}
	t.Logf("%d grants acknowledged before the backup, all present; writers continued to %d", len(before), len(acked))
}
