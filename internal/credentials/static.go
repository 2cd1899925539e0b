package credentials

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// StaticStore is what the static source reads.
type StaticStore interface {
	GetStaticCredential(ctx context.Context, accountID, roleName string) (store.StaticCredential, error)
}

// Static is the static source, for local emulators and tests only: it
// hands out the credential stored for the role (or the account), else
// freshly generated credentials that only an emulator accepts. NOT FOR
// PRODUCTION: nothing in AWS stands behind these credentials, and an
// emulator typically accepts any.
type Static struct {
	store StaticStore
	keys  *secret.Keys
	now   func() time.Time
}

// NewStatic returns the static source; now is the clock (time.Now when nil).
func NewStatic(st StaticStore, keys *secret.Keys, now func() time.Time) *Static {
	if now == nil {
		now = time.Now
	}
	return &Static{store: st, keys: keys, now: now}
}

// Credentials returns the stored credential of the role or account, else
// generated ones, valid for req.Duration.
func (s *Static) Credentials(ctx context.Context, req Request) (Credentials, error) {
	d, _ := ClampDuration(req.Duration)
	out := Credentials{Expiration: s.now().Add(d).UTC().Truncate(time.Second), Source: "static"}
	stored, err := s.store.GetStaticCredential(ctx, req.AccountID, req.RoleName)
	switch {
	case errors.Is(err, store.ErrNotFound):
		out.AccessKeyID, out.SecretAccessKey, out.SessionToken = generate()
		return out, nil
	case err != nil:
		return Credentials{}, fmt.Errorf("credentials: static: %w", err)
	}
	sealed, err := s.keys.Open(stored.Sealed, staticAD(stored.AccountID, stored.RoleName, stored.AccessKeyID))
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials: static: the credential of %s/%q does not open with the configured key: %w", stored.AccountID, stored.RoleName, err)
	}
	var p staticSecret
	if err := json.Unmarshal(sealed, &p); err != nil {
		return Credentials{}, fmt.Errorf("credentials: static: the credential of %s/%q: %w", stored.AccountID, stored.RoleName, err)
	}
	out.AccessKeyID, out.SecretAccessKey, out.SessionToken = stored.AccessKeyID, p.SecretAccessKey, p.SessionToken
	return out, nil
}

// staticSecret is what a stored static credential seals.
type staticSecret struct {
	SecretAccessKey string `json:"secretAccessKey"`
	SessionToken    string `json:"sessionToken,omitempty"`
}

// SealStatic builds the record of a fixed credential for a role of an
// account (roleName "" for every role): the secret access key and session
// token are sealed under the master key, bound to the account, role and
// access key id so that a sealed value cannot be moved to another record.
func SealStatic(keys *secret.Keys, accountID, roleName, accessKeyID, secretAccessKey, sessionToken string, now time.Time) store.StaticCredential {
	plain, _ := json.Marshal(staticSecret{SecretAccessKey: secretAccessKey, SessionToken: sessionToken}) // two strings always marshal
	return store.StaticCredential{
		AccountID:   accountID,
		RoleName:    roleName,
		AccessKeyID: accessKeyID,
		Sealed:      keys.Seal(plain, staticAD(accountID, roleName, accessKeyID)),
		CreatedAt:   now,
	}
}

func staticAD(accountID, roleName, accessKeyID string) []byte {
	return []byte("ssooidc static credential v1\x00" + accountID + "\x00" + roleName + "\x00" + accessKeyID)
}

// generate makes credentials shaped like STS's: a 20-character ASIA key id,
// a 40-character secret and an opaque session token.
func generate() (accessKeyID, secretAccessKey, sessionToken string) {
	accessKeyID = "ASIA" + rand.Text()[:16] // rand.Text: A–Z and 2–7, like AWS key ids
	secretAccessKey = base64.StdEncoding.EncodeToString(randomBytes(30))
	sessionToken = base64.StdEncoding.EncodeToString(randomBytes(96))
	return accessKeyID, secretAccessKey, sessionToken
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}
