package keys

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/clocktest"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testSecrets(t *testing.T) *secret.Keys {
	t.Helper()
	k, err := secret.New([]byte("keys-test-master-key-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newManager(t *testing.T, st store.SigningKeys, c *clocktest.Clock, cfg Config) *Manager {
	t.Helper()
	cfg.Now = c.Now
	if cfg.Algorithm == "" {
		cfg.Algorithm = ES256 // quick to generate; RS256 has tests of its own
	}
	m, err := New(st, testSecrets(t), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// jwkSet parses the manager's published set.
func jwkSet(t *testing.T, m *Manager) jose.JSONWebKeySet {
	t.Helper()
	b, err := m.JWKS(t.Context())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("JWKS %s: %v", b, err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS publishes a private key: %s", b)
		}
	}
	return set
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// signedBy signs a token and returns the kid it was signed with, after
// checking the signature against the published set as a relying party
// would.
func signedBy(t *testing.T, m *Manager) string {
	t.Helper()
	tok, err := m.SignJWT(t.Context(), map[string]any{"sub": "u1"})
	if err != nil {
		t.Fatalf("SignJWT: %v", err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatalf("parse %s: %v", tok, err)
	}
	h := jws.Signatures[0].Header
	set := jwkSet(t, m)
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("token signed with kid %q, not published once in %v", h.KeyID, kids(set))
	}
	if _, err := jws.Verify(keys[0]); err != nil {
		t.Fatalf("verify with the published key: %v", err)
	}
	return h.KeyID
}

func TestSignJWT(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{RS256, ES256} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			m := newManager(t, openStore(t), clocktest.New(t0), Config{Algorithm: alg})
			claims := map[string]any{"iss": "https://sso.example.test", "sub": "u1", "aud": "c1", "exp": float64(t0.Unix() + 3600)}
			tok, err := m.SignJWT(t.Context(), claims)
			if err != nil {
				t.Fatalf("SignJWT: %v", err)
			}
			header, _, _ := strings.Cut(tok, ".")
			var h map[string]any
			b, _ := base64.RawURLEncoding.DecodeString(header)
			if err := json.Unmarshal(b, &h); err != nil {
				t.Fatalf("header %q: %v", header, err)
			}
			set := jwkSet(t, m)
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
			}
			want := map[string]any{"alg": alg, "kid": set.Keys[0].KeyID, "typ": "JWT"}
			if diff := cmp.Diff(want, h); diff != "" {
				t.Errorf("JWS header mismatch (-want +got):\n%s", diff)
			}
			if set.Keys[0].Algorithm != alg || set.Keys[0].Use != "sig" {
				t.Errorf("JWK alg, use = %q, %q; want %q, sig", set.Keys[0].Algorithm, set.Keys[0].Use, alg)
			}
			payload, err := m.Verify(t.Context(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			var got map[string]any
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(claims, got); diff != "" {
				t.Errorf("claims mismatch (-want +got):\n%s", diff)
			}
			if _, err := m.Verify(t.Context(), tok[:len(tok)-4]+"AAAA"); err == nil {
				t.Error("Verify accepted a tampered signature")
			}
		})
	}
}

func TestPrivateKeysSealedAtRest(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	m := newManager(t, st, clocktest.New(t0), Config{Algorithm: RS256})
	if err := m.Ready(t.Context()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	recs, err := st.ListSigningKeys(t.Context())
	if err != nil || len(recs) != 1 {
		t.Fatalf("ListSigningKeys = %v, %v; want one key", recs, err)
	}
	r := recs[0]
	if _, err := x509.ParsePKCS8PrivateKey(r.PrivateKey); err == nil {
		t.Fatal("the stored private key parses as PKCS #8: it is stored in clear")
	}
	der, err := testSecrets(t).Open(r.PrivateKey, []byte(r.ID))
	if err != nil {
		t.Fatalf("Open with the key id as additional data: %v", err)
	}
	if bytes.Contains(r.PrivateKey, der[len(der)-32:]) {
		t.Error("the sealed key contains the tail of the clear key")
	}
	if _, err := testSecrets(t).Open(r.PrivateKey, []byte("another-kid")); err == nil {
		t.Error("the sealed key opens under another key id: it is not bound to its id")
	}
	other, _ := secret.New([]byte("another-master-key-0123456789abcdef!"))
	wrong, err := New(st, other, Config{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Ready(t.Context()); err == nil {
		t.Error("a manager with another secret key loaded the keys")
	}
}

// TestFirstStartCreatesOneKey: replicas starting together on an empty
// store end up with one key, and all sign with it.
func TestFirstStartCreatesOneKey(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	c := clocktest.New(t0)
	const replicas = 6
	ms := make([]*Manager, replicas)
	for i := range ms {
		ms[i] = newManager(t, st, c, Config{Rotation: 30 * 24 * time.Hour})
	}
	var wg sync.WaitGroup
	kid := make([]string, replicas)
	for i, m := range ms {
		wg.Go(func() { kid[i] = signedBy(t, m) })
	}
	wg.Wait()
	recs, err := st.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d keys stored, want 1", len(recs))
	}
	for i, k := range kid {
		if k != recs[0].ID {
			t.Errorf("replica %d signed with %q, want %q", i, k, recs[0].ID)
		}
	}
}

// TestScheduledRotation follows a key through its life: created at first
// use, replaced when Rotation old, the new one published at once and
// signing ActivationDelay later, the old one published until the tokens it
// signed have expired, then removed from the set and from the store.
func TestScheduledRotation(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	c := clocktest.New(t0)
	const rotation = 30 * 24 * time.Hour
	lifetime := 2 * time.Hour
	a := newManager(t, st, c, Config{Rotation: rotation, TokenLifetime: lifetime})
	b := newManager(t, st, c, Config{Rotation: rotation, TokenLifetime: lifetime}) // another replica
	first := signedBy(t, a)
	if got := signedBy(t, b); got != first {
		t.Fatalf("replica b signs with %q, want %q", got, first)
	}

	c.Advance(rotation - time.Minute)
	if got := kids(jwkSet(t, a)); !cmp.Equal(got, []string{first}) {
		t.Fatalf("before the rotation is due, JWKS = %v, want [%s]", got, first)
	}
	c.Advance(time.Minute) // due: the next read creates a key
	rotatedAt := c.Now()
	set := kids(jwkSet(t, b))
	if len(set) != 2 || set[1] != first {
		t.Fatalf("after rotation, JWKS = %v, want [new, %s]", set, first)
	}
	second := set[0]
	if got := kids(jwkSet(t, a)); !cmp.Equal(got, set) {
		t.Errorf("replica a publishes %v, replica b %v", got, set)
	}
	if got := signedBy(t, a); got != first {
		t.Errorf("just after rotation, signed with %q, want the old key %q", got, first)
	}

	c.Advance(ActivationDelay)
	for name, m := range map[string]*Manager{"a": a, "b": b} {
		if got := signedBy(t, m); got != second {
			t.Errorf("replica %s after activation signs with %q, want %q", name, got, second)
		}
	}
	recs, err := st.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("stored keys = %d, want 2 (one rotation, by one replica)", len(recs))
	}
	wantRetire := rotatedAt.Add(ActivationDelay + lifetime + skewMargin)
	if !recs[1].ExpiresAt.Equal(wantRetire) || !recs[0].ExpiresAt.IsZero() {
		t.Errorf("ExpiresAt = new %v, old %v; want zero, %v", recs[0].ExpiresAt, recs[1].ExpiresAt, wantRetire)
	}

	// A token the old key signed just before the switch expires at
	// rotatedAt+ActivationDelay+lifetime: still published then.
	c.Advance(lifetime)
	if got := kids(jwkSet(t, a)); len(got) != 2 {
		t.Errorf("when the old key's last tokens expire, JWKS = %v, want both keys", got)
	}
	c.Advance(skewMargin)
	if got := kids(jwkSet(t, a)); !cmp.Equal(got, []string{second}) {
		t.Errorf("after the old key's horizon, JWKS = %v, want [%s]", got, second)
	}
	if n, err := st.DeleteExpired(t.Context(), c.Now().Add(time.Microsecond), 0, 100); err != nil || n != 1 {
		t.Errorf("DeleteExpired = %d, %v; want the old key removed", n, err)
	}
	info, err := a.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(info) != 1 || info[0].ID != second || !info[0].Signing {
		t.Errorf("List = %+v, want only %s, signing", info, second)
	}
}

func TestRotateNow(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	c := clocktest.New(t0)
	server := newManager(t, st, c, Config{})                // rotation 0: manual only
	admin := newManager(t, st, c, Config{Algorithm: RS256}) // the CLI, configured for RS256
	first := signedBy(t, server)

	c.Advance(time.Hour)
	if got := signedBy(t, server); got != first {
		t.Fatalf("without rotation, signed with %q, want %q", got, first)
	}
	info, err := admin.Rotate(t.Context())
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	want := Info{ID: info.ID, Algorithm: RS256, CreatedAt: c.Now(), SignsFrom: c.Now().Add(ActivationDelay)}
	if diff := cmp.Diff(want, info); diff != "" || info.ID == first {
		t.Errorf("Rotate mismatch (-want +got):\n%s", diff)
	}
	// The server re-reads within RefreshInterval: the new key is published
	// long before it signs.
	c.Advance(RefreshInterval)
	if got := kids(jwkSet(t, server)); !cmp.Equal(got, []string{info.ID, first}) {
		t.Errorf("JWKS = %v, want [%s %s]", got, info.ID, first)
	}
	if got := signedBy(t, server); got != first {
		t.Errorf("before activation, signed with %q, want %q", got, first)
	}
	c.Advance(ActivationDelay)
	if got := signedBy(t, server); got != info.ID {
		t.Errorf("after activation, signed with %q, want %q", got, info.ID)
	}
	list, err := admin.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !list[0].Signing || list[1].Signing || list[1].ExpiresAt.IsZero() {
		t.Errorf("List = %+v, want the new key signing and the old one retiring", list)
	}
}

// failingStore fails ListSigningKeys on demand: the database is down.
type failingStore struct {
	store.SigningKeys
	mu   sync.Mutex
	fail bool
}

func (f *failingStore) setFail(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = v
}

func (f *failingStore) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return nil, errors.New("database unavailable")
	}
	return f.SigningKeys.ListSigningKeys(ctx)
}

func TestStoreOutage(t *testing.T) {
	t.Parallel()
	st := &failingStore{SigningKeys: openStore(t)}
	c := clocktest.New(t0)
	m := newManager(t, st, c, Config{})
	st.setFail(true)
	if err := m.Ready(t.Context()); err == nil {
		t.Fatal("Ready succeeded with no key ever read")
	}
	st.setFail(false)
	kid := signedBy(t, m)
	st.setFail(true)
	c.Advance(RefreshInterval) // stale, but its keys are still published
	if got := signedBy(t, m); got != kid {
		t.Errorf("during a short outage, signed with %q, want %q", got, kid)
	}
	c.Advance(ActivationDelay) // too old to trust
	if _, err := m.SignJWT(t.Context(), map[string]string{}); err == nil {
		t.Error("SignJWT succeeded on keys read longer than ActivationDelay ago")
	}
	if err := m.Ready(t.Context()); err == nil {
		t.Error("Ready succeeded during a long outage")
	}
	st.setFail(false)
	if err := m.Ready(t.Context()); err != nil {
		t.Errorf("Ready after the outage: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{Algorithm: "HS256"}, {Algorithm: "none"}, {Rotation: -time.Hour}} {
		if _, err := New(nil, nil, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestRotateSameInstant: keys created at the same instant (a fake clock, a
// coarse one) still have one newest.
func TestRotateSameInstant(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	c := clocktest.New(t0)
	m := newManager(t, st, c, Config{})
	first := signedBy(t, m)
	var ids []string
	for range 2 {
		info, err := m.Rotate(t.Context())
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		ids = append(ids, info.ID)
	}
	if got := kids(jwkSet(t, m)); !cmp.Equal(got, []string{ids[1], ids[0], first}) {
		t.Errorf("JWKS = %v, want [%s %s %s] (newest first)", got, ids[1], ids[0], first)
	}
	c.Advance(ActivationDelay + time.Millisecond)
	if got := signedBy(t, m); got != ids[1] {
		t.Errorf("signed with %s, want the newest %s", got, ids[1])
	}
}
