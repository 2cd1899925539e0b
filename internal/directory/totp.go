package directory

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters (RFC 6238 with its defaults, which every authenticator
// app understands): HMAC-SHA-1, 6 digits, 30-second steps, a 160-bit seed.
const (
	totpDigits    = 6
	totpPeriod    = 30 * time.Second
	totpSecretLen = 20
	// totpSkew is how many steps before and after now a code may be from,
	// for clocks that are a little off and codes typed at a step's end.
	totpSkew = 1
)

// base32NoPad is how authenticator apps want the seed (RFC 4648 §6).
var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// hotp is RFC 4226's HOTP (§5.3, dynamic truncation) under hash h.
func hotp(h func() hash.Hash, key []byte, counter uint64, digits int) string {
	m := hmac.New(h, key)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// totpStep is the RFC 6238 time step of t (T0 = the Unix epoch).
func totpStep(t time.Time) int64 {
	return t.Unix() / int64(totpPeriod/time.Second)
}

// totpCode is the 6-digit code of step.
func totpCode(secret []byte, step int64) string {
	return hotp(sha1.New, secret, uint64(step), totpDigits)
}

// matchTOTP returns the step within totpSkew of now whose code is code,
// comparing every candidate in constant time.
func matchTOTP(secret []byte, code string, now time.Time) (int64, bool) {
	cur := totpStep(now)
	var found int64
	ok := 0
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		s := cur + d
		if subtle.ConstantTimeCompare([]byte(totpCode(secret, s)), []byte(code)) == 1 && ok == 0 {
			found, ok = s, 1
		}
	}
	return found, ok == 1
}

// newTOTPSecret returns a random seed.
func newTOTPSecret() []byte {
	b := make([]byte, totpSecretLen)
	rand.Read(b)
	return b
}

// totpURI is the otpauth:// URI authenticator apps scan (the Key Uri
// Format of Google Authenticator, which the others follow).
func totpURI(issuer, account string, secret []byte) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	q := url.Values{
		"secret":    {base32NoPad.EncodeToString(secret)},
		"issuer":    {issuer},
		"algorithm": {"SHA1"},
		"digits":    {fmt.Sprint(totpDigits)},
		"period":    {fmt.Sprint(int(totpPeriod / time.Second))},
	}
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// Second-factor input limits and forms.
const (
	maxCodeInput     = 64
	recoveryCodes    = 10
	recoveryLen      = 10 // characters of a recovery code, 5 bits each
	recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"
)

// parseSecondFactor reads what a person typed as a second factor: six
// digits (a TOTP code) or a recovery code, with any spaces and dashes and
// in any case. kind is "totp", "recovery" or "" when it is neither.
func parseSecondFactor(input string) (kind, code string) {
	if len(input) > maxCodeInput {
		return "", ""
	}
	var b strings.Builder
	for _, r := range input {
		switch {
		case r == ' ' || r == '-' || r == '\t':
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
		default:
			return "", ""
		}
	}
	s := b.String()
	switch {
	case len(s) == totpDigits && strings.Trim(s, "0123456789") == "":
		return "totp", s
	case len(s) == recoveryLen && strings.Trim(s, recoveryAlphabet) == "":
		return "recovery", s
	}
	return "", ""
}

// newRecoveryCode returns a random recovery code as shown: xxxxx-xxxxx.
func newRecoveryCode() string {
	b := make([]byte, recoveryLen)
	rand.Read(b)
	for i := range b {
		b[i] = recoveryAlphabet[b[i]%32]
	}
	return string(b[:5]) + "-" + string(b[5:])
}
