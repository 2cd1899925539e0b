package oauth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/url"
	"strings"
)

// userCodeAlphabet is RFC 8628 §6.1's base-20 set: no vowels (no words),
// no easily confused letters.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

const userCodeLen = 8

// newUserCode returns a random user code in canonical form (8 letters, no
// dash); 20^8 ≈ 2.6e10 codes, about 34.6 bits.
func newUserCode() string {
	var out [userCodeLen]byte
	var buf [16]byte
	for i := 0; i < userCodeLen; {
		rand.Read(buf[:])
		for _, b := range buf {
			// Reject values ≥ 240 so that b % 20 is uniform.
			if b >= 240 || i == userCodeLen {
				continue
			}
			out[i] = userCodeAlphabet[b%20]
			i++
		}
	}
	return string(out[:])
}

// NormalizeUserCode turns what a person typed into the canonical code: case
// folded, dashes and white space dropped. ok is false unless the result is
// 8 letters of the alphabet.
func NormalizeUserCode(typed string) (code string, ok bool) {
	if len(typed) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range typed {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if r > 'Z' || !strings.ContainsRune(userCodeAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != userCodeLen {
		return "", false
	}
	return b.String(), true
}

// FormatUserCode shows a canonical code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != userCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// isLoopbackHost reports whether host (no port) names the loopback
// interface: RFC 8252 §7.3 lets native apps pick any port on it.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validRedirectURI checks a URI offered at registration: absolute, no
// fragment, https, or http on a loopback host (RFC 8252 §7.3, §8.3).
func validRedirectURI(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Fragment != "" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return isLoopbackHost(u.Hostname())
	}
	return false
}

// MatchRedirectURI reports whether the redirect URI of a request matches a
// registered one: exactly, or, for http on a loopback host, with any port
// (RFC 8252 §7.3) — the AWS CLI registers http://127.0.0.1/oauth/callback
// and then listens on a random port.
func MatchRedirectURI(registered, requested string) bool {
	if registered == requested {
		return true
	}
	r, err := url.Parse(registered)
	if err != nil || r.Scheme != "http" || !isLoopbackHost(r.Hostname()) {
		return false
	}
	q, err := url.Parse(requested)
	if err != nil || q.Scheme != "http" || q.User != nil || q.Fragment != "" {
		return false
	}
	if q.Port() != "" && !validPort(q.Port()) {
		return false
	}
	return q.Hostname() == r.Hostname() &&
		q.EscapedPath() == r.EscapedPath() &&
		q.RawQuery == r.RawQuery &&
		(r.Port() == "" || r.Port() == q.Port())
}

func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n > 0 && n <= 65535
}

// validCodeChallenge: an S256 challenge is base64url(SHA-256), 43 chars.
func validCodeChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

// VerifyPKCE checks an RFC 7636 §4.1 verifier (43–128 unreserved characters)
// against an S256 challenge, in constant time.
func VerifyPKCE(challenge, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		c := verifier[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// validScopeToken: RFC 6749 §3.3 scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5C || c > 0x7E {
			return false
		}
	}
	return true
}
