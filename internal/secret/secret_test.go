package secret

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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

// TestOrderedHash: the stored hash of an ordered token leads with its issue
// time, so hashes of tokens issued later sort after; the rest is the keyed
// hash of the whole token, so a token differing anywhere (its time
// included) or of another purpose does not match; values that are not
// ordered tokens hash whole.
func TestOrderedHash(t *testing.T) {
	k := mustKeys(t, strings.Repeat("o", 32))
	t0 := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	var prev []byte
	for i := range 50 {
		tok := OrderedToken("sso_rt_", t0.Add(time.Duration(i)*time.Microsecond))
		h := k.OrderedHash("refresh-token", "sso_rt_", tok)
		if len(h) != orderLen+sha256.Size || !bytes.Equal(h[orderLen:], freshHash(k, "refresh-token", tok)) {
			t.Fatalf("OrderedHash(%q) = %x: not time + keyed hash", tok, h)
		}
		if got := int64(binary.BigEndian.Uint64(h)); got != t0.UnixMicro()+int64(i) {
			t.Fatalf("issue time %d, want %d", got, t0.UnixMicro()+int64(i))
		}
		if prev != nil && bytes.Compare(prev, h) >= 0 {
			t.Fatalf("hash %x does not sort after the earlier token's %x", h, prev)
		}
		prev = h
		if bytes.Equal(h, k.OrderedHash("access-token", "sso_rt_", tok)) {
			t.Fatal("another purpose gives the same hash")
		}
		// Another issue time with the same random part is another token.
		forged := "sso_rt_" + base64.RawURLEncoding.EncodeToString(append(binary.BigEndian.AppendUint64(nil, 1), mustDecode(t, tok[7:])[orderLen:]...))
		if bytes.Equal(k.OrderedHash("refresh-token", "sso_rt_", forged)[orderLen:], h[orderLen:]) {
			t.Fatal("a token with another time matches")
		}
	}
	for _, v := range []string{"", "sso_rt_", Token("sso_rt_"), "sso_at_" + strings.Repeat("A", orderedBodyLen), "sso_rt_" + strings.Repeat("*", orderedBodyLen)} {
		if got, want := k.OrderedHash("refresh-token", "sso_rt_", v), freshHash(k, "refresh-token", v); !bytes.Equal(got, want) {
			t.Errorf("OrderedHash(%q) = %x, want the whole value's hash %x", v, got, want)
		}
	}
}

// FuzzOrderedHash: whatever a client presents, OrderedHash never panics
// and gives either the value's issue time and keyed hash (an ordered
// token: prefix, then 54 base64url characters) or the keyed hash of the
// whole value — never another value's hash.
func FuzzOrderedHash(f *testing.F) {
	k, err := New(bytes.Repeat([]byte{5}, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(OrderedToken("sso_rt_", time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)))
	f.Add(Token("sso_rt_"))
	f.Add("sso_rt_" + strings.Repeat("_", orderedBodyLen))
	f.Add("")
	f.Fuzz(func(t *testing.T, value string) {
		got := k.OrderedHash("refresh-token", "sso_rt_", value)
		whole := freshHash(k, "refresh-token", value)
		switch len(got) {
		case len(whole):
			if !bytes.Equal(got, whole) {
				t.Fatalf("OrderedHash(%q) = %x, want the whole value's hash", value, got)
			}
		case orderLen + len(whole):
			body, ok := strings.CutPrefix(value, "sso_rt_")
			if !ok || len(body) != orderedBodyLen {
				t.Fatalf("OrderedHash(%q) = %x: the time and hash of a value that is no ordered token", value, got)
			}
			issued, err := base64.RawURLEncoding.DecodeString(body[:11])
			if err != nil || !bytes.Equal(got[:orderLen], issued) || !bytes.Equal(got[orderLen:], whole) {
				t.Fatalf("OrderedHash(%q) = %x: not its issue time and keyed hash", value, got)
			}
		default:
			t.Fatalf("OrderedHash(%q) is %d bytes", value, len(got))
		}
	})
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
