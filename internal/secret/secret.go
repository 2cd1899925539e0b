// Package secret owns the instance's secret key and what is derived from it:
// keyed hashes of codes, client secrets, tokens and session ids (HMAC-SHA-256),
// authenticated encryption of what must be read back (AES-256-GCM), and the
// random opaque values the service hands out.
//
// One master key comes from configuration, is shared by every replica and is
// never stored in the database; only its fingerprint is, so a replica with
// the wrong key refuses to start.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
)

// KeySize is the length of a master key in bytes.
const KeySize = 32

// Keys holds the sub-keys derived from the master key.
type Keys struct {
	hashKey []byte
	// hashers holds *hasher values keyed with hashKey. Hash runs several
	// times on every request (client secret, device code, token), and
	// hmac.New allocates and hashes the padded key each time, while a
	// reused HMAC's Reset restores its keyed state from a saved copy.
	hashers     sync.Pool
	aead        cipher.AEAD
	fingerprint string
}

// hasher is an HMAC-SHA-256 keyed with the hash sub-key, and a buffer to
// feed it purpose, separator and value in one Write without converting
// each string to a fresh slice.
type hasher struct {
	mac hash.Hash
	buf []byte
}

// maxPooledInput bounds the buffer a pooled hasher keeps, so that hashing
// one unusually long value does not pin its size in the pool.
const maxPooledInput = 1 << 10

// New derives the hashing and encryption keys from a master key of at least
// KeySize bytes.
func New(master []byte) (*Keys, error) {
	if len(master) < KeySize {
		return nil, fmt.Errorf("secret: key is %d bytes, need at least %d", len(master), KeySize)
	}
	derive := func(label string) []byte {
		k, err := hkdf.Key(sha256.New, master, nil, "ssooidc "+label, 32)
		if err != nil {
			panic(err) // only for lengths hkdf cannot produce
		}
		return k
	}
	block, err := aes.NewCipher(derive("encryption v1"))
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	fp := sha256.Sum256(derive("fingerprint v1"))
	k := &Keys{
		hashKey:     derive("hash v1"),
		aead:        aead,
		fingerprint: "v1:" + hex.EncodeToString(fp[:16]),
	}
	k.hashers.New = func() any { return &hasher{mac: hmac.New(sha256.New, k.hashKey)} }
	return k, nil
}

// ParseKey decodes a master key written as hex or (raw or padded,
// standard or URL) base64, as `ssooidc keys generate` prints it.
func ParseKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if b, err := hex.DecodeString(text); err == nil && len(b) >= KeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(text); err == nil && len(b) >= KeySize {
			return b, nil
		}
	}
	return nil, errors.New("secret: key must be at least 32 bytes, hex or base64 encoded")
}

// GenerateKey returns a new random master key, base64url encoded.
func GenerateKey() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(KeySize))
}

// Fingerprint identifies the master key without revealing it.
func (k *Keys) Fingerprint() string { return k.fingerprint }

// Hash returns the keyed hash of value for a purpose ("device", "user",
// "access", …); the purpose keeps a value of one kind from matching another.
func (k *Keys) Hash(purpose, value string) []byte {
	return k.appendHash(nil, purpose, value)
}

// appendHash appends Hash(purpose, value) to dst.
func (k *Keys) appendHash(dst []byte, purpose, value string) []byte {
	h := k.hashers.Get().(*hasher)
	h.mac.Reset()
	h.buf = append(append(append(h.buf[:0], purpose...), 0), value...)
	h.mac.Write(h.buf)
	dst = h.mac.Sum(dst)
	if cap(h.buf) > maxPooledInput {
		h.buf = nil
	}
	k.hashers.Put(h)
	return dst
}

// Seal encrypts plaintext; additional data binds it to its context (a row id).
func (k *Keys) Seal(plaintext, additional []byte) []byte {
	nonce := randomBytes(k.aead.NonceSize())
	return k.aead.Seal(nonce, nonce, plaintext, additional)
}

// Open decrypts what Seal produced.
func (k *Keys) Open(sealed, additional []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("secret: sealed value too short")
	}
	out, err := k.aead.Open(nil, sealed[:n], sealed[n:], additional)
	if err != nil {
		return nil, fmt.Errorf("secret: open: %w", err)
	}
	return out, nil
}

// Token returns an opaque secret: prefix followed by 32 random bytes in
// base64url. The prefix lets secret scanners recognise a leaked value.
func Token(prefix string) string {
	return prefix + base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

// orderLen is the length of the issue time that leads an ordered token and
// its stored hash: unix microseconds, big-endian.
const orderLen = 8

// OrderedToken returns an opaque secret whose stored hash (OrderedHash)
// sorts by issue time: prefix, then in base64url the issue time (8 bytes)
// and 32 random bytes. The time is not secret; the 32 random bytes are.
func OrderedToken(prefix string, now time.Time) string {
	b := make([]byte, orderLen+32)
	binary.BigEndian.PutUint64(b, uint64(now.UnixMicro()))
	rand.Read(b[orderLen:])
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// orderedBodyLen is the base64url length of an ordered token after its prefix.
var orderedBodyLen = base64.RawURLEncoding.EncodedLen(orderLen + 32)

// OrderedHash is the stored form of a token made by OrderedToken: its issue
// time, then Hash(purpose, token). Rows keyed by it are inserted at the end
// of their index, beside the rows stored just before them, instead of at a
// random place: a batch of inserts changes one index page, not one page
// per row (on SQLite each changed page is written to the WAL, then copied
// into the database). Any other value (a token issued before ordered
// tokens, garbage) is hashed whole, as Hash does, and can only match a
// token stored that way.
func (k *Keys) OrderedHash(purpose, prefix, token string) []byte {
	body, ok := strings.CutPrefix(token, prefix)
	if !ok || len(body) != orderedBodyLen {
		return k.Hash(purpose, token)
	}
	stored := make([]byte, orderLen, orderLen+sha256.Size)
	// The first 11 characters hold the first 8 bytes (66 bits).
	if n, err := base64.RawURLEncoding.Decode(stored, []byte(body[:11])); err != nil || n != orderLen {
		return k.Hash(purpose, token)
	}
	return k.appendHash(stored, purpose, token)
}

// ID returns a random identifier of n bytes, base64url encoded.
func ID(n int) string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never returns an error (crypto/rand, Go 1.24+)
	return b
}
