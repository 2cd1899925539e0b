package directory

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Password hashing parameters: one of the argon2id configurations OWASP's
// Password Storage Cheat Sheet lists as equally strong (19 MiB × 2 passes,
// 12 MiB × 3, 9 MiB × 4, 7 MiB × 5, one lane), trading memory for passes.
// 9 MiB × 4 keeps a sign-in's work area, which is the largest allocation
// the server ever makes, small next to its resident set (docs/performance.md)
// for the same CPU time. Stored hashes carry their own parameters, so these
// can be changed without invalidating existing passwords; a hash with other
// parameters is upgraded at the next successful sign-in.
const (
	argonMemory  = 9 * 1024 // KiB
	argonTime    = 4
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds accepted when parsing a stored hash, so a corrupt or hostile row
// cannot make verification allocate without limit.
const (
	maxArgonMemory  = 1 << 21 // 2 GiB in KiB
	maxArgonTime    = 64
	maxArgonThreads = 64
)

// dummyHash is verified against when the user does not exist, so that the
// time taken does not reveal whether an account exists. Its salt and hash
// are arbitrary: no password matches it.
const dummyHash = "$argon2id$v=19$m=9216,t=4,p=1$c3Nvb2lkYy1kdW1teS1zYWx0$Z0xH3lP0s1cFq6mJm8h0Q0o9bq3dXw4rYf2v8tN6kAo"

var errMalformedHash = errors.New("malformed argon2id hash")

// phc is a parsed argon2id PHC string.
type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func (p phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(p.salt), base64.RawStdEncoding.EncodeToString(p.key))
}

// current reports whether the hash uses today's parameters.
func (p phc) current() bool {
	return p.memory == argonMemory && p.time == argonTime && p.threads == argonThreads &&
		len(p.salt) == argonSaltLen && len(p.key) == argonKeyLen
}

// parsePHC parses `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`.
func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, errMalformedHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, fmt.Errorf("%w: unsupported version %q", errMalformedHash, parts[2])
	}
	var p phc
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return phc{}, errMalformedHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return phc{}, errMalformedHash
		}
		switch k {
		case "m":
			if n > maxArgonMemory {
				return phc{}, errMalformedHash
			}
			p.memory = uint32(n)
			seen |= 1
		case "t":
			if n > maxArgonTime {
				return phc{}, errMalformedHash
			}
			p.time = uint32(n)
			seen |= 2
		case "p":
			if n > maxArgonThreads {
				return phc{}, errMalformedHash
			}
			p.threads = uint8(n)
			seen |= 4
		default:
			return phc{}, errMalformedHash
		}
	}
	if seen != 7 || p.memory < 8*uint32(p.threads) {
		return phc{}, errMalformedHash
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 || len(p.salt) > 64 {
		return phc{}, errMalformedHash
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 128 {
		return phc{}, errMalformedHash
	}
	return p, nil
}

// acquire takes a hashing slot, waiting at most until ctx is done: argon2id
// is memory-hard on purpose, so a password-spraying attack must not be
// able to run an unbounded number at once.
func (d *Directory) acquire(ctx context.Context) error {
	select {
	case d.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Directory) release() { <-d.sem }

// hashPassword returns a new PHC string for password.
func (d *Directory) hashPassword(ctx context.Context, password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	if err := d.acquire(ctx); err != nil {
		return "", err
	}
	defer d.release()
	p := phc{memory: argonMemory, time: argonTime, threads: argonThreads, salt: salt}
	p.key = argon2Key(password, p)
	return p.String(), nil
}

// verifyPassword reports whether password matches the PHC string encoded,
// comparing in constant time, and whether the hash should be upgraded to
// the current parameters.
func (d *Directory) verifyPassword(ctx context.Context, encoded, password string) (ok, stale bool, err error) {
	p, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if err := d.acquire(ctx); err != nil {
		return false, false, err
	}
	defer d.release()
	key := argon2Key(password, p)
	return subtle.ConstantTimeCompare(key, p.key) == 1, !p.current(), nil
}

// argon2Key computes the key for password under p's parameters.
func argon2Key(password string, p phc) []byte {
	keyLen := uint32(len(p.key))
	if keyLen == 0 {
		keyLen = argonKeyLen
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, keyLen)
	// The work area (p.memory KiB) is garbage now; collect it and give its
	// pages back to the OS at once. Left to the pacer, the heap goal set
	// while it was live (twice the live heap) would let the garbage of the
	// requests that follow grow the heap, and the resident set, by as much
	// again before the next collection; and the scavenger would return the
	// pages only slowly. A sign-in is rare and costs milliseconds already.
	debug.FreeOSMemory()
	return key
}
