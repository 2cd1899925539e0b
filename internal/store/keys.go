package store

import (
	"context"
	"time"
)

// SigningKey is one key that signs ID tokens (OpenID Connect Core §2). Its
// private half is stored only sealed (secret.Keys.Seal, the key id as
// additional data); the store treats it as opaque bytes.
type SigningKey struct {
	ID         string // the JWK "kid": unique
	Algorithm  string // JWS "alg": RS256 or ES256
	PrivateKey []byte // sealed PKCS #8 DER
	CreatedAt  time.Time
	// ExpiresAt is when the key stops being published: zero while no newer
	// key has superseded it, then late enough that every token it signed
	// has expired.
	ExpiresAt time.Time
}

// SigningKeys stores the OIDC signing keys.
type SigningKeys interface {
	// AddSigningKey stores k as the newest key, atomically across
	// replicas: unless since is zero, nothing is stored and it returns
	// false when a key created at or after since exists already (so of
	// several replicas racing to create or rotate with the same since,
	// exactly one stores its key). When it stores k, every other key whose
	// ExpiresAt is zero gets ExpiresAt = retire, in the same transaction,
	// and it returns true. ErrAlreadyExists if k.ID is taken.
	AddSigningKey(ctx context.Context, k SigningKey, since, retire time.Time) (bool, error)
	// ListSigningKeys returns every stored key, expired or not, newest
	// first (CreatedAt descending, then ID descending).
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
}
