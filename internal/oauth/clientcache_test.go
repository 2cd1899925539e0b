package oauth

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"

	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

// countingStore is a real SQLite store that counts client reads.
type countingStore struct {
	*sqlite.Store
	gets atomic.Int64
}

func (s *countingStore) GetClient(ctx context.Context, id string) (store.Client, error) {
	s.gets.Add(1)
	return s.Store.GetClient(ctx, id)
}

var testT0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func openSQLite(tb testing.TB) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "ssooidc.db"))
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func testKeys(tb testing.TB) *secret.Keys {
	tb.Helper()
	keys, err := secret.New(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		tb.Fatalf("secret.New: %v", err)
	}
	return keys
}

const testIssuer = "http://127.0.0.1:8080"

func TestClientCache(t *testing.T) {
	ctx := t.Context()
	st := &countingStore{Store: openSQLite(t)}
	clock := clocktest.New(testT0)
	e := New(st, testKeys(t), Config{Issuer: testIssuer, ClientLifetime: time.Hour}, clock.Now, nil)
	c, err := e.RegisterClient(ctx, RegisterRequest{ClientName: "cli", ClientType: "public"})
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	start := func() error {
		_, err := e.StartDeviceAuthorization(ctx, StartRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, StartURL: testIssuer + "/start"})
		return err
	}
	kindOf := func(err error) Kind { return AsError(err).Kind }

	for i := range 3 {
		if err := start(); err != nil {
			t.Fatalf("start #%d: %v", i+1, err)
		}
	}
	if got := st.gets.Load(); got != 1 {
		t.Errorf("GetClient calls after 3 starts = %d, want 1 (cached)", got)
	}
	// A wrong secret is refused from the cached copy too.
	_, err = e.StartDeviceAuthorization(ctx, StartRequest{ClientID: c.ClientID, ClientSecret: "sso_cs_wrong", StartURL: testIssuer + "/start"})
	if kindOf(err) != InvalidClient {
		t.Errorf("wrong secret: %v, want InvalidClient", err)
	}
	// Unknown ids are not cached: each is a store read.
	for range 2 {
		_, err = e.StartDeviceAuthorization(ctx, StartRequest{ClientID: "nope", ClientSecret: "x", StartURL: testIssuer + "/start"})
		if kindOf(err) != InvalidClient {
			t.Errorf("unknown client: %v, want InvalidClient", err)
		}
	}
	if got := st.gets.Load(); got != 3 {
		t.Errorf("GetClient calls = %d, want 3", got)
	}
	if n := len(e.clients.entries); n != 1 {
		t.Errorf("cache holds %d entries, want 1", n)
	}

	// After the TTL the registration is read again.
	clock.Advance(clientCacheTTL)
	if err := start(); err != nil {
		t.Fatalf("start after TTL: %v", err)
	}
	if got := st.gets.Load(); got != 4 {
		t.Errorf("GetClient calls after TTL = %d, want 4", got)
	}
	// Expiry is checked on the cached copy at every use.
	clock.Advance(time.Hour)
	if err := start(); kindOf(err) != InvalidClient {
		t.Errorf("start with an expired (cached) registration: %v, want InvalidClient", err)
	}
}

func TestClientCacheBounded(t *testing.T) {
	ctx := t.Context()
	st := openSQLite(t)
	e := New(st, testKeys(t), Config{Issuer: testIssuer}, func() time.Time { return testT0 }, nil)
	for i := range clientCacheSize + 10 {
		id := secret.ID(9)
		if err := st.CreateClient(ctx, store.Client{ID: id, Name: "c", Type: "public", CreatedAt: testT0, ExpiresAt: testT0.Add(time.Hour)}); err != nil {
			t.Fatalf("CreateClient #%d: %v", i, err)
		}
		if _, err := e.getClient(ctx, id); err != nil {
			t.Fatalf("getClient #%d: %v", i, err)
		}
	}
	if n := len(e.clients.entries); n != clientCacheSize {
		t.Errorf("cache holds %d entries, want %d", n, clientCacheSize)
	}
}

func TestClientCacheConcurrent(t *testing.T) {
	ctx := t.Context()
	st := openSQLite(t)
	clock := clocktest.New(testT0)
	e := New(st, testKeys(t), Config{Issuer: testIssuer}, clock.Now, nil)
	c, err := e.RegisterClient(ctx, RegisterRequest{ClientName: "cli", ClientType: "public"})
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				if j%5 == 0 && i == 0 {
					clock.Advance(clientCacheTTL)
				}
				if _, err := e.authenticateClient(ctx, c.ClientID, c.ClientSecret, false); err != nil {
					t.Errorf("authenticateClient: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}
