package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

func TestNewUserCode(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		c := newUserCode()
		if got, ok := NormalizeUserCode(c); !ok || got != c {
			t.Fatalf("NormalizeUserCode(%q) = %q, %v; want itself", c, got, ok)
		}
		seen[c] = true
	}
	if len(seen) < 1999 {
		t.Errorf("only %d distinct codes in 2000", len(seen))
	}
}

func TestNormalizeUserCode(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"BCDF-GHJK", "BCDFGHJK", true},
		{"bcdfghjk", "BCDFGHJK", true},
		{" bcdf-ghjk ", "BCDFGHJK", true},
		{"bcdf ghjk", "BCDFGHJK", true},
		{"BCDF-GHJ", "", false},      // too short
		{"BCDF-GHJKL", "", false},    // too long
		{"ABCD-GHJK", "", false},     // vowel
		{"BCD1-GHJK", "", false},     // digit
		{"BCDF-GHJK\x00", "", false}, // control
		{"ḂCDF-GHJK", "", false},     // not ASCII
		{"", "", false},
		{strings.Repeat("B", 100), "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeUserCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdfghjk", "ABCD-EFGH", "", "----", "bcdf ghjk", "ǅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeUserCode(s)
		if !ok {
			if got != "" {
				t.Fatalf("rejected %q but returned %q", s, got)
			}
			return
		}
		if len(got) != userCodeLen || strings.Trim(got, userCodeAlphabet) != "" {
			t.Fatalf("NormalizeUserCode(%q) = %q: not 8 letters of the alphabet", s, got)
		}
		// Normalising is idempotent, also from the shown form.
		if again, ok := NormalizeUserCode(FormatUserCode(got)); !ok || again != got {
			t.Fatalf("round trip of %q = %q, %v", got, again, ok)
		}
	})
}

func TestMatchRedirectURI(t *testing.T) {
	tests := []struct {
		registered, requested string
		want                  bool
	}{
		{"http://127.0.0.1/oauth/callback", "http://127.0.0.1:54321/oauth/callback", true},
		{"http://127.0.0.1/oauth/callback", "http://127.0.0.1/oauth/callback", true},
		{"http://[::1]/cb", "http://[::1]:8000/cb", true},
		{"http://localhost/cb", "http://localhost:8000/cb", true},
		{"http://127.0.0.1:9000/cb", "http://127.0.0.1:9001/cb", false}, // a registered port is kept
		{"http://127.0.0.1/oauth/callback", "http://127.0.0.1:1/oauth/callbackX", false},
		{"http://127.0.0.1/oauth/callback", "http://127.0.0.2:1/oauth/callback", false},
		{"http://127.0.0.1/oauth/callback", "https://127.0.0.1:1/oauth/callback", false},
		{"http://127.0.0.1/oauth/callback", "http://evil@127.0.0.1:1/oauth/callback", false},
		{"http://127.0.0.1/oauth/callback", "http://127.0.0.1:0/oauth/callback", false},
		{"http://127.0.0.1/oauth/callback", "http://127.0.0.1:99999/oauth/callback", false},
		{"http://127.0.0.1/oauth/callback", "http://127.0.0.1:80/oauth/callback#x", false},
		{"https://app.example.com/cb", "https://app.example.com/cb", true},
		{"https://app.example.com/cb", "https://app.example.com:443/cb", false},
		{"https://app.example.com/cb", "https://app.example.com/cb?x=1", false},
	}
	for _, tt := range tests {
		if got := MatchRedirectURI(tt.registered, tt.requested); got != tt.want {
			t.Errorf("MatchRedirectURI(%q, %q) = %v, want %v", tt.registered, tt.requested, got, tt.want)
		}
	}
}

func FuzzMatchRedirectURI(f *testing.F) {
	f.Add("http://127.0.0.1/oauth/callback", "http://127.0.0.1:8080/oauth/callback")
	f.Add("https://a.example/cb", "https://a.example/cb")
	f.Add("http://[::1]/x", "http://[::1]:1/x")
	f.Fuzz(func(t *testing.T, registered, requested string) {
		if !MatchRedirectURI(registered, requested) || registered == requested {
			return
		}
		// A port-agnostic match only ever happens for http loopback
		// registrations, and only the port may differ.
		r, err1 := url.Parse(registered)
		q, err2 := url.Parse(requested)
		if err1 != nil || err2 != nil || r.Scheme != "http" || q.Scheme != "http" || !isLoopbackHost(q.Hostname()) {
			t.Fatalf("non-loopback inexact match: %q ~ %q", registered, requested)
		}
		if r.Hostname() != q.Hostname() || r.EscapedPath() != q.EscapedPath() || r.RawQuery != q.RawQuery {
			t.Fatalf("inexact match beyond the port: %q ~ %q", registered, requested)
		}
		if !validRedirectURI(registered) {
			t.Fatalf("matched against an invalid registration %q", registered)
		}
	})
}

func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestVerifyPKCE(t *testing.T) {
	verifier := strings.Repeat("a1-._~", 10) + "abcd" // 64 chars, as the CLI sends
	ch := challengeOf(verifier)
	if !validCodeChallenge(ch) {
		t.Fatalf("challenge %q not valid", ch)
	}
	if !VerifyPKCE(ch, verifier) {
		t.Error("correct verifier refused")
	}
	for _, bad := range []string{verifier + "x", verifier[:42], strings.Repeat("a", 129), strings.Replace(verifier, "a", "+", 1), ""} {
		if VerifyPKCE(ch, bad) {
			t.Errorf("verifier %q accepted", bad)
		}
	}
}

func FuzzVerifyPKCE(f *testing.F) {
	f.Add(strings.Repeat("x", 43), "abc")
	f.Fuzz(func(t *testing.T, verifier, other string) {
		if VerifyPKCE(challengeOf(verifier), verifier) != (len(verifier) >= 43 && len(verifier) <= 128 && strings.Trim(verifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") == "") {
			t.Fatalf("VerifyPKCE(challenge(v), v) wrong for %q", verifier)
		}
		if other != verifier && VerifyPKCE(challengeOf(verifier), other) {
			t.Fatalf("%q accepted for the challenge of %q", other, verifier)
		}
	})
}
