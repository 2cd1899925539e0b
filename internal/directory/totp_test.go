package directory

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/secret"
)

// TestHOTPRFC4226 checks RFC 4226 Appendix D.
func TestHOTPRFC4226(t *testing.T) {
	t.Parallel()
	key := []byte("12345678901234567890")
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := hotp(sha1.New, key, uint64(i), 6); got != w {
			t.Errorf("HOTP(count %d) = %s, want %s", i, got, w)
		}
	}
}

// TestTOTPRFC6238 checks every vector of RFC 6238 Appendix B.
func TestTOTPRFC6238(t *testing.T) {
	t.Parallel()
	seeds := map[string]struct {
		h   func() hash.Hash
		key string
	}{
		"SHA1":   {sha1.New, "12345678901234567890"},
		"SHA256": {sha256.New, "12345678901234567890123456789012"},
		"SHA512": {sha512.New, "1234567890123456789012345678901234567890123456789012345678901234"},
	}
	for _, v := range []struct {
		unix int64
		mode string
		want string
	}{
		{59, "SHA1", "94287082"}, {59, "SHA256", "46119246"}, {59, "SHA512", "90693936"},
		{1111111109, "SHA1", "07081804"}, {1111111109, "SHA256", "68084774"}, {1111111109, "SHA512", "25091201"},
		{1111111111, "SHA1", "14050471"}, {1111111111, "SHA256", "67062674"}, {1111111111, "SHA512", "99943326"},
		{1234567890, "SHA1", "89005924"}, {1234567890, "SHA256", "91819424"}, {1234567890, "SHA512", "93441116"},
		{2000000000, "SHA1", "69279037"}, {2000000000, "SHA256", "90698825"}, {2000000000, "SHA512", "38618901"},
		{20000000000, "SHA1", "65353130"}, {20000000000, "SHA256", "77737706"}, {20000000000, "SHA512", "47863826"},
	} {
		s := seeds[v.mode]
		step := totpStep(time.Unix(v.unix, 0))
		if got := hotp(s.h, []byte(s.key), uint64(step), 8); got != v.want {
			t.Errorf("TOTP-%s(%d) = %s, want %s", v.mode, v.unix, got, v.want)
		}
	}
	// The 6-digit codes the service uses are the same values' last digits.
	if got := totpCode([]byte("12345678901234567890"), totpStep(time.Unix(59, 0))); got != "287082" {
		t.Errorf("totpCode(59) = %s, want 287082", got)
	}
}

func TestMatchTOTP(t *testing.T) {
	t.Parallel()
	seed := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	cur := totpStep(now)
	for d, want := range map[int64]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
		step, ok := matchTOTP(seed, totpCode(seed, cur+d), now)
		if ok != want || (ok && step != cur+d) {
			t.Errorf("code of step %+d: matched %v at %d, want %v", d, ok, step-cur, want)
		}
	}
	if _, ok := matchTOTP(seed, "12345", now); ok {
		t.Error("a 5-digit code matched")
	}
}

func TestTOTPURI(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(totpURI("sso.example.com", "alice@corp", []byte("12345678901234567890")))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/sso.example.com:alice@corp" {
		t.Errorf("URI %s: wrong scheme, type or label", u)
	}
	q := u.Query()
	if q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || q.Get("issuer") != "sso.example.com" ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Errorf("URI query %v", q)
	}
}

func TestParseSecondFactor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, kind, code string }{
		{"123456", "totp", "123456"},
		{" 123 456 ", "totp", "123456"},
		{"123-456", "totp", "123456"},
		{"12345", "", ""},
		{"1234567", "", ""},
		{"abcde-fghij", "recovery", "abcdefghij"},
		{"ABCDE FGHIJ", "recovery", "abcdefghij"},
		{"abcde-fgh1j", "", ""}, // 1 is not in the alphabet
		{"abcde-fghij-k", "", ""},
		{"１２３４５６", "", ""}, // full-width digits
		{"", "", ""},
		{strings.Repeat(" ", 70) + "123456", "", ""},
	} {
		kind, code := parseSecondFactor(tt.in)
		if kind != tt.kind || code != tt.code {
			t.Errorf("parseSecondFactor(%q) = %q, %q; want %q, %q", tt.in, kind, code, tt.kind, tt.code)
		}
	}
	for range 50 {
		c := newRecoveryCode()
		if kind, _ := parseSecondFactor(c); kind != "recovery" {
			t.Fatalf("new recovery code %q does not parse", c)
		}
	}
}

// FuzzParseSecondFactor: whatever a browser posts as a code parses
// without panicking into nothing or a well-formed code.
func FuzzParseSecondFactor(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "abcde-fghij", "ABCDE-FGHIJ", "", "١٢٣٤٥٦", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, code := parseSecondFactor(s)
		switch kind {
		case "":
			if code != "" {
				t.Errorf("no kind but code %q", code)
			}
		case "totp":
			if len(code) != totpDigits || strings.Trim(code, "0123456789") != "" {
				t.Errorf("totp code %q", code)
			}
		case "recovery":
			if len(code) != recoveryLen || strings.Trim(code, recoveryAlphabet) != "" {
				t.Errorf("recovery code %q", code)
			}
		default:
			t.Errorf("kind %q", kind)
		}
		if k2, c2 := parseSecondFactor(code); kind != "" && (k2 != kind || c2 != code) {
			t.Errorf("normalized %q parses as %q %q", code, k2, c2)
		}
	})
}

// FuzzOpenPending: whatever a browser sends as the pending sign-in
// cookie opens to nothing, unless it is a genuine one for this browser.
func FuzzOpenPending(f *testing.F) {
	f.Add("sso_sp_AAAA", "anchor")
	f.Add("sso_sp_", "")
	f.Add("", "anchor")
	f.Add("sso_sp_"+strings.Repeat("A", 600), "anchor")
	keys, err := secret.New([]byte(strings.Repeat("k", secret.KeySize)))
	if err != nil {
		f.Fatal(err)
	}
	d := New(nil, keys, Config{}, nil, nil) // sealing needs no store
	f.Fuzz(func(t *testing.T, value, anchor string) {
		if id, _, ok := d.OpenPending(value, anchor); ok {
			t.Errorf("OpenPending(%q, %q) opened for %q", value, anchor, id)
		}
		good := d.SealPending("user", NeedSecondFactor, anchor)
		if _, _, ok := d.OpenPending(good, anchor); ok != (anchor != "") {
			t.Errorf("a genuine value for anchor %q: ok = %v", anchor, ok)
		}
	})
}
