package secret

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func mustKeys(t *testing.T, master string) *Keys {
	t.Helper()
	k, err := New([]byte(master))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHashIsKeyedAndPurposeBound(t *testing.T) {
	a := mustKeys(t, strings.Repeat("a", 32))
	b := mustKeys(t, strings.Repeat("b", 32))
	if !bytes.Equal(a.Hash("device-code", "x"), a.Hash("device-code", "x")) {
		t.Error("hash not deterministic")
	}
	if bytes.Equal(a.Hash("device-code", "x"), b.Hash("device-code", "x")) {
		t.Error("different keys give the same hash")
	}
	if bytes.Equal(a.Hash("device-code", "x"), a.Hash("user-code", "x")) {
		t.Error("different purposes give the same hash")
	}
	// The separator keeps ("ab","c") and ("a","bc") apart.
	if bytes.Equal(a.Hash("ab", "c"), a.Hash("a", "bc")) {
		t.Error("purpose and value are not separated")
	}
	if a.Fingerprint() == b.Fingerprint() || !strings.HasPrefix(a.Fingerprint(), "v1:") {
		t.Errorf("fingerprints %q %q", a.Fingerprint(), b.Fingerprint())
	}
}

func TestSealOpen(t *testing.T) {
	k := mustKeys(t, strings.Repeat("k", 32))
	sealed := k.Seal([]byte("totp seed"), []byte("user-1"))
	if bytes.Contains(sealed, []byte("totp seed")) {
		t.Fatal("plaintext visible in the sealed value")
	}
	got, err := k.Open(sealed, []byte("user-1"))
	if err != nil || string(got) != "totp seed" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k.Open(sealed, []byte("user-2")); err == nil {
		t.Error("opened with other additional data")
	}
	if _, err := mustKeys(t, strings.Repeat("o", 32)).Open(sealed, []byte("user-1")); err == nil {
		t.Error("opened with another key")
	}
	if _, err := k.Open(sealed[:5], nil); err == nil {
		t.Error("opened a truncated value")
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, 32)
	for _, text := range []string{hex.EncodeToString(raw), GenerateKey(), " " + GenerateKey() + "\n"} {
		if _, err := ParseKey(text); err != nil {
			t.Errorf("ParseKey(%q): %v", text, err)
		}
	}
	for _, text := range []string{"", "short", hex.EncodeToString(raw[:16])} {
		if _, err := ParseKey(text); err == nil {
			t.Errorf("ParseKey(%q) accepted", text)
		}
	}
	if _, err := New(raw[:31]); err == nil {
		t.Error("New accepted a 31-byte key")
	}
}

func TestTokenShape(t *testing.T) {
	a, b := Token("sso_at_"), Token("sso_at_")
	if a == b || !strings.HasPrefix(a, "sso_at_") || len(a) != len("sso_at_")+43 {
		t.Errorf("tokens %q %q", a, b)
	}
}

// freshHash is Hash as a fresh hmac.New computes it, without the pool.
func freshHash(k *Keys, purpose, value string) []byte {
	m := hmac.New(sha256.New, k.hashKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// TestHashPooledMatchesFresh: reusing pooled HMAC states gives the bytes a
// fresh hmac.New gives, one call after another and from many goroutines at
// once (run with -race), for values shorter and longer than a SHA-256
// block and than the pooled buffer.
func TestHashPooledMatchesFresh(t *testing.T) {
	k := mustKeys(t, strings.Repeat("p", 32))
	values := []string{"", "x", strings.Repeat("v", 63), strings.Repeat("w", 64), strings.Repeat("y", 200), strings.Repeat("z", 3*maxPooledInput)}
	purposes := []string{"", "device", "refresh-token"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				p, v := purposes[(g+i)%len(purposes)], values[(g*7+i)%len(values)]+strconv.Itoa(i)
				if got, want := k.Hash(p, v), freshHash(k, p, v); !bytes.Equal(got, want) {
					t.Errorf("Hash(%q, %.20q…) = %x, want %x", p, v, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkHash(b *testing.B) {
	k, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		b.Fatal(err)
	}
	value := Token("sso_dc_")
	b.ReportAllocs()
	for b.Loop() {
		k.Hash("device", value)
	}
}
