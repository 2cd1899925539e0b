// Package keys owns the keys that sign ID tokens: it creates them, keeps
// them in the store sealed under the instance's secret key, rotates them,
// publishes the public halves as a JSON Web Key Set (RFC 7517) and signs
// JWTs (RFC 7519) with go-jose.
//
// # Life of a key
//
// The first replica to need a key creates one; replicas starting together
// create exactly one (store.SigningKeys.AddSigningKey is atomic). A key is
// published from the moment it is stored, but signs only ActivationDelay
// later: every replica re-reads the key list at least every
// RefreshInterval, and relying parties cache the key set for at most
// JWKSMaxAge, so by the time a token signed with the new key exists,
// everyone who verifies it can know the key. The newest key past its
// activation signs; while no key is (a fresh install), the oldest does.
//
// A new key is created when the newest is Config.Rotation old (checked
// whenever the list is re-read) and on Rotate (`ssooidc keys rotate`). The
// keys it supersedes stay published until every token they can have
// signed has expired: ActivationDelay + Config.TokenLifetime + a margin for
// clock skew after the new key was stored. Then the store's DeleteExpired
// removes them.
//
// # Algorithms
//
// RS256 (RSA 2048, PKCS #1 v1.5) is the default: OpenID Connect Discovery
// requires it and Kubernetes accepts nothing else unless told. ES256
// (ECDSA P-256) is available. Config.Algorithm applies to keys created from
// then on; the keys already published keep theirs.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// The signing algorithms (JWS "alg").
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// Algorithms are the algorithms keys can have, the default first.
var algorithms = []string{RS256, ES256}

// Algorithms returns the supported signing algorithms, the default first.
func Algorithms() []string { return slices.Clone(algorithms) }

// Timing. See the package documentation.
const (
	// RefreshInterval is how long a manager uses the key list it read
	// before reading it again (and creating a key if a rotation is due).
	RefreshInterval = time.Minute
	// ActivationDelay is how long a new key is published before it signs.
	ActivationDelay = 10 * time.Minute
	// JWKSMaxAge is how long relying parties may cache the key set
	// (Cache-Control max-age of the JWKS endpoint).
	JWKSMaxAge = 5 * time.Minute
	// skewMargin keeps a retired key published a little longer than the
	// tokens it signed, for verifiers whose clocks run late.
	skewMargin = 5 * time.Minute
)

// rsaBits is the size of new RSA keys.
const rsaBits = 2048

// Config is the manager's policy.
type Config struct {
	// Algorithm of the keys created from now on: RS256 (default) or ES256.
	Algorithm string
	// Rotation is the age at which the newest key is replaced; 0 replaces
	// keys only on Rotate.
	Rotation time.Duration
	// TokenLifetime is the longest lifetime of a token the keys sign (the
	// ID token lifetime); default one hour.
	TokenLifetime time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log receives key creation and load failures; nil discards.
	Log *slog.Logger
}

// Manager creates, rotates, publishes and uses the signing keys. It is safe
// for concurrent use; several managers (replicas, the CLI) may share one
// store.
type Manager struct {
	store   store.SigningKeys
	secrets *secret.Keys
	cfg     Config

	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // held while reading the store into a new snapshot
}

// snapshot is one reading of the key list, immutable once stored.
type snapshot struct {
	loaded time.Time
	keys   []*key // unexpired at load time, newest first
	jwks   []byte // the public halves of keys, as a JWK Set
}

// key is a stored key opened for use.
type key struct {
	rec    store.SigningKey
	public jose.JSONWebKey
	signer jose.Signer
}

// New returns a manager over st. secrets seals and opens the private keys.
func New(st store.SigningKeys, secrets *secret.Keys, cfg Config) (*Manager, error) {
	if cfg.Algorithm == "" {
		cfg.Algorithm = RS256
	}
	if !slices.Contains(algorithms, cfg.Algorithm) {
		return nil, fmt.Errorf("keys: signing algorithm %q is not one of %v", cfg.Algorithm, algorithms)
	}
	if cfg.Rotation < 0 {
		return nil, errors.New("keys: negative rotation period")
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{store: st, secrets: secrets, cfg: cfg}, nil
}

// SignJWT signs claims (anything encoding/json marshals to an object) with
// the current key, as a compact JWS with the header {"alg","kid","typ":"JWT"}.
func (m *Manager) SignJWT(ctx context.Context, claims any) (string, error) {
	s, err := m.current(ctx)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	k := s.signer(m.cfg.Now())
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("keys: sign with %s: %w", k.rec.ID, err)
	}
	return jws.CompactSerialize()
}

// Verify checks a compact JWS signed by one of the published keys and
// returns its payload. It checks the signature only: the claims are the
// caller's.
func (m *Manager) Verify(ctx context.Context, token string) ([]byte, error) {
	s, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("keys: verify: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("keys: verify: want exactly one signature")
	}
	h := jws.Signatures[0].Header
	for _, k := range s.keys {
		if k.rec.ID == h.KeyID && k.rec.Algorithm == h.Algorithm {
			payload, err := jws.Verify(k.public)
			if err != nil {
				return nil, fmt.Errorf("keys: verify: %w", err)
			}
			return payload, nil
		}
	}
	return nil, fmt.Errorf("keys: verify: no published key %q", h.KeyID)
}

// JWKS returns the published keys as a JWK Set (RFC 7517 §5), newest
// first.
func (m *Manager) JWKS(ctx context.Context) ([]byte, error) {
	s, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	return s.jwks, nil
}

// Algorithms returns the algorithms keys may have (for discovery); the
// configured one signs new keys.
func (m *Manager) Algorithms() []string { return Algorithms() }

// Ready loads the keys (creating the first one if there is none) and
// reports whether they can be used.
func (m *Manager) Ready(ctx context.Context) error {
	_, err := m.current(ctx)
	return err
}

// Info describes a stored key, for operators.
type Info struct {
	ID        string
	Algorithm string
	CreatedAt time.Time
	// SignsFrom is when the key starts signing (CreatedAt +
	// ActivationDelay).
	SignsFrom time.Time
	// ExpiresAt is when it stops being published: zero while no newer key
	// supersedes it.
	ExpiresAt time.Time
	// Signing reports whether it is the key that signs now.
	Signing bool
}

// Rotate creates a new key now, whatever the age of the newest: it is
// published at once and signs from ActivationDelay later; the keys it
// supersedes stay published until the tokens they signed have expired.
func (m *Manager) Rotate(ctx context.Context) (Info, error) {
	now := m.cfg.Now()
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("keys: rotate: %w", err)
	}
	created := now
	if len(recs) > 0 && !created.After(recs[0].CreatedAt) {
		// Newer than the newest, whatever the clocks say: "newest" must
		// name one key.
		created = recs[0].CreatedAt.Add(time.Microsecond)
	}
	k, err := m.generate(created)
	if err != nil {
		return Info{}, err
	}
	if _, err := m.store.AddSigningKey(ctx, k.rec, time.Time{}, m.retireAt(created)); err != nil {
		return Info{}, fmt.Errorf("keys: rotate: %w", err)
	}
	m.cfg.Log.InfoContext(ctx, "signing key created", "kid", k.rec.ID, "alg", k.rec.Algorithm, "reason", "rotate")
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.load(ctx, now)
	if err != nil {
		return Info{}, err
	}
	m.snap.Store(s)
	return info(k.rec, s.signer(now) == s.find(k.rec.ID)), nil
}

// List returns the stored keys that are still published, newest first.
// It reads the store (it never creates a key).
func (m *Manager) List(ctx context.Context) ([]Info, error) {
	now := m.cfg.Now()
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	recs = slices.DeleteFunc(recs, func(r store.SigningKey) bool { return expired(r, now) })
	signing := signerIndex(recs, now)
	out := make([]Info, len(recs))
	for i, r := range recs {
		out[i] = info(r, i == signing)
	}
	return out, nil
}

func info(r store.SigningKey, signing bool) Info {
	return Info{
		ID:        r.ID,
		Algorithm: r.Algorithm,
		CreatedAt: r.CreatedAt,
		SignsFrom: r.CreatedAt.Add(ActivationDelay),
		ExpiresAt: r.ExpiresAt,
		Signing:   signing,
	}
}

// ---- the key list ----

// current returns a snapshot no older than RefreshInterval, reading the
// store when needed. While one caller reads it, the others go on with the
// previous snapshot; if reading fails, a snapshot younger than
// ActivationDelay is still used (its keys are still published) and an
// older one is not.
func (m *Manager) current(ctx context.Context) (*snapshot, error) {
	now := m.cfg.Now()
	s := m.snap.Load()
	if s.fresh(now) {
		return s, nil
	}
	if s != nil && s.usable(now) {
		if !m.mu.TryLock() {
			return s, nil
		}
	} else {
		m.mu.Lock()
	}
	defer m.mu.Unlock()
	if s2 := m.snap.Load(); s2.fresh(now) {
		return s2, nil
	}
	ns, err := m.load(ctx, now)
	if err != nil {
		if s != nil && s.usable(now) {
			m.cfg.Log.WarnContext(ctx, "reading the signing keys failed; using the keys read before", "err", err, "age", now.Sub(s.loaded))
			return s, nil
		}
		return nil, err
	}
	m.snap.Store(ns)
	return ns, nil
}

func (s *snapshot) fresh(now time.Time) bool {
	if s == nil {
		return false
	}
	age := now.Sub(s.loaded)
	return age >= 0 && age < RefreshInterval
}

func (s *snapshot) usable(now time.Time) bool {
	if s == nil {
		return false
	}
	age := now.Sub(s.loaded)
	return age >= 0 && age < ActivationDelay
}

// signer is the key that signs at now.
func (s *snapshot) signer(now time.Time) *key {
	recs := make([]store.SigningKey, len(s.keys))
	for i, k := range s.keys {
		recs[i] = k.rec
	}
	return s.keys[signerIndex(recs, now)]
}

func (s *snapshot) find(id string) *key {
	for _, k := range s.keys {
		if k.rec.ID == id {
			return k
		}
	}
	return nil
}

// signerIndex picks the signing key among unexpired keys, newest first:
// the newest whose activation has come, else the oldest. -1 if there are
// none.
func signerIndex(recs []store.SigningKey, now time.Time) int {
	for i, r := range recs {
		if !now.Before(r.CreatedAt.Add(ActivationDelay)) {
			return i
		}
	}
	return len(recs) - 1
}

func expired(r store.SigningKey, now time.Time) bool {
	return !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
}

// retireAt is how long keys superseded at now stay published.
func (m *Manager) retireAt(now time.Time) time.Time {
	return now.Add(ActivationDelay + m.cfg.TokenLifetime + skewMargin)
}

// load reads the key list, first creating a key when there is none or the
// newest is due for rotation, and opens the keys it has not opened before.
// Callers hold m.mu.
func (m *Manager) load(ctx context.Context, now time.Time) (*snapshot, error) {
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	recs = slices.DeleteFunc(recs, func(r store.SigningKey) bool { return expired(r, now) })
	if since, due := m.due(recs, now); due {
		k, err := m.generate(now)
		if err != nil {
			return nil, err
		}
		added, err := m.store.AddSigningKey(ctx, k.rec, since, m.retireAt(now))
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		if added {
			reason := "rotation"
			if len(recs) == 0 {
				reason = "first key"
			}
			m.cfg.Log.InfoContext(ctx, "signing key created", "kid", k.rec.ID, "alg", k.rec.Algorithm, "reason", reason)
		}
		// Ours, or the key of the replica that was quicker.
		if recs, err = m.store.ListSigningKeys(ctx); err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		recs = slices.DeleteFunc(recs, func(r store.SigningKey) bool { return expired(r, now) })
	}
	if len(recs) == 0 {
		return nil, errors.New("keys: no signing key") // cannot happen after a successful add
	}
	prev := m.snap.Load()
	s := &snapshot{loaded: now}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(recs))}
	for _, r := range recs {
		var k *key
		if prev != nil {
			if old := prev.find(r.ID); old != nil {
				k = &key{rec: r, public: old.public, signer: old.signer}
			}
		}
		if k == nil {
			if k, err = m.open(r); err != nil {
				return nil, err
			}
		}
		s.keys = append(s.keys, k)
		set.Keys = append(set.Keys, k.public)
	}
	if s.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("keys: encode key set: %w", err)
	}
	return s, nil
}

// due reports whether a key must be created, and the since that makes the
// creation happen once across replicas: no key yet (any key stored since
// 1970 means another replica was quicker), or the newest is Rotation old
// (a key younger than that means another replica has rotated; the store
// keeps microseconds).
func (m *Manager) due(recs []store.SigningKey, now time.Time) (since time.Time, ok bool) {
	younger := now.Add(-m.cfg.Rotation).Add(time.Microsecond)
	if len(recs) == 0 {
		if m.cfg.Rotation > 0 {
			return younger, true
		}
		return time.Unix(0, 0), true
	}
	if m.cfg.Rotation > 0 && !now.Before(recs[0].CreatedAt.Add(m.cfg.Rotation)) {
		return younger, true
	}
	return time.Time{}, false
}

// ---- one key ----

// generate creates a key of the configured algorithm, sealed for storage.
// Its id is its RFC 7638 JWK thumbprint (SHA-256, base64url).
func (m *Manager) generate(now time.Time) (*key, error) {
	var priv crypto.Signer
	var err error
	switch m.cfg.Algorithm {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s key: %w", m.cfg.Algorithm, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public()}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("keys: thumbprint: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(thumb)
	der, err := marshalPrivate(priv)
	if err != nil {
		return nil, err
	}
	rec := store.SigningKey{
		ID:         id,
		Algorithm:  m.cfg.Algorithm,
		PrivateKey: m.secrets.Seal(der, []byte(id)),
		CreatedAt:  now,
	}
	return newKey(rec, priv)
}

// open unseals a stored key and checks that it is what its algorithm says.
func (m *Manager) open(r store.SigningKey) (*key, error) {
	der, err := m.secrets.Open(r.PrivateKey, []byte(r.ID))
	if err != nil {
		return nil, fmt.Errorf("keys: open key %s: %w", r.ID, err)
	}
	priv, err := parsePrivate(r.Algorithm, der)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", r.ID, err)
	}
	return newKey(r, priv)
}

func newKey(r store.SigningKey, priv crypto.Signer) (*key, error) {
	alg := jose.SignatureAlgorithm(r.Algorithm)
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: alg,
		Key:       jose.JSONWebKey{Key: priv, KeyID: r.ID, Algorithm: r.Algorithm, Use: "sig"},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("keys: signer for %s: %w", r.ID, err)
	}
	return &key{
		rec:    r,
		public: jose.JSONWebKey{Key: priv.Public(), KeyID: r.ID, Algorithm: r.Algorithm, Use: "sig"},
		signer: signer,
	}, nil
}
