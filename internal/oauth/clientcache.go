package oauth

import (
	"context"
	"sync"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

// Client registrations are read on every StartDeviceAuthorization and
// CreateToken. A registration never changes after it is created (the store
// contract has no update), so a copy read a moment ago answers exactly as
// the store would, on any replica; its expiry is still checked by the
// caller at every use. A copy is re-read after clientCacheTTL, so a
// registration removed from the store stops being accepted here within that
// time, and at most clientCacheSize are kept. Unknown ids are never cached:
// a caller cannot fill the cache with made-up ids.
const (
	clientCacheTTL  = 30 * time.Second
	clientCacheSize = 4096
)

type clientCache struct {
	mu      sync.Mutex
	entries map[string]cachedClient
}

type cachedClient struct {
	client  store.Client
	fetched time.Time // engine clock
}

// getClient returns the registration with that id, from the cache when a
// fresh copy is there. Errors are the store's.
func (e *Engine) getClient(ctx context.Context, id string) (store.Client, error) {
	now := e.now()
	cc := &e.clients
	cc.mu.Lock()
	ent, ok := cc.entries[id]
	cc.mu.Unlock()
	if age := now.Sub(ent.fetched); ok && age >= 0 && age < clientCacheTTL {
		return ent.client, nil
	}
	c, err := e.store.GetClient(ctx, id)
	if err != nil {
		return store.Client{}, err
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.entries == nil {
		cc.entries = make(map[string]cachedClient)
	}
	if _, ok := cc.entries[id]; !ok && len(cc.entries) >= clientCacheSize {
		for k := range cc.entries { // map order: an arbitrary victim
			delete(cc.entries, k)
			break
		}
	}
	cc.entries[id] = cachedClient{client: c, fetched: now}
	return c, nil
}
