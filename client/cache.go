package client

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
)

// CacheTimeFormat is how the AWS CLI writes times in its SSO cache
// (Python's %Y-%m-%dT%H:%M:%SZ, always UTC).
const CacheTimeFormat = "2006-01-02T15:04:05Z"

// DefaultCacheDir is ~/.aws/sso/cache, where the AWS CLI and SDKs keep SSO
// tokens.
func DefaultCacheDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("client: finding the token cache: %w", err)
	}
	return filepath.Join(home, ".aws", "sso", "cache"), nil
}

// Cache is a directory of SSO cache files in the AWS CLI's format.
type Cache struct {
	Dir string
}

// Cache returns the client's cache.
func (c *Client) Cache() Cache { return Cache{Dir: c.cacheDir} }

// CachedToken is a token file, ~/.aws/sso/cache/<sha1>.json, with the
// members the AWS CLI writes. Members it does not know are kept as they are
// when the file is rewritten.
type CachedToken struct {
	StartURL              string
	Region                string
	AccessToken           string
	ExpiresAt             time.Time
	ClientID              string
	ClientSecret          string
	RegistrationExpiresAt time.Time // zero: unknown
	RefreshToken          string    // empty: none

	extra map[string]json.RawMessage
}

var tokenMembers = []string{"startUrl", "region", "accessToken", "expiresAt", "clientId", "clientSecret", "registrationExpiresAt", "refreshToken"}

// MarshalJSON writes the members in the AWS CLI's order, times as
// CacheTimeFormat, then any unknown members.
func (t *CachedToken) MarshalJSON() ([]byte, error) {
	type member struct {
		key string
		val any
	}
	ms := []member{{"startUrl", t.StartURL}, {"region", t.Region}, {"accessToken", t.AccessToken}, {"expiresAt", formatCacheTime(t.ExpiresAt)}}
	if t.ClientID != "" || t.ClientSecret != "" {
		ms = append(ms, member{"clientId", t.ClientID}, member{"clientSecret", t.ClientSecret})
	}
	if !t.RegistrationExpiresAt.IsZero() {
		ms = append(ms, member{"registrationExpiresAt", formatCacheTime(t.RegistrationExpiresAt)})
	}
	if t.RefreshToken != "" {
		ms = append(ms, member{"refreshToken", t.RefreshToken})
	}
	keys := make([]string, 0, len(t.extra))
	for k := range t.extra {
		if !slices.Contains(tokenMembers, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		ms = append(ms, member{k, t.extra[k]})
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		v, err := json.Marshal(m.val)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a token file written by any AWS tool (times with or
// without fractional seconds).
func (t *CachedToken) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	str := func(k string) (string, error) {
		var s string
		if v, ok := raw[k]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, &s); err != nil {
				return "", fmt.Errorf("%s: %w", k, err)
			}
		}
		return s, nil
	}
	var errs []error
	get := func(k string) string {
		s, err := str(k)
		errs = append(errs, err)
		return s
	}
	getTime := func(k string) time.Time {
		s := get(k)
		if s == "" {
			return time.Time{}
		}
		tm, err := parseCacheTime(s)
		errs = append(errs, err)
		return tm
	}
	*t = CachedToken{
		StartURL:              get("startUrl"),
		Region:                get("region"),
		AccessToken:           get("accessToken"),
		ExpiresAt:             getTime("expiresAt"),
		ClientID:              get("clientId"),
		ClientSecret:          get("clientSecret"),
		RegistrationExpiresAt: getTime("registrationExpiresAt"),
		RefreshToken:          get("refreshToken"),
		extra:                 raw,
	}
	return errors.Join(errs...)
}

func formatCacheTime(t time.Time) string { return t.UTC().Format(CacheTimeFormat) }

func parseCacheTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	// Very old botocore wrote "…UTC".
	if t, err := time.Parse("2006-01-02T15:04:05UTC", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q is not RFC 3339", s)
}

// TokenPath is the token file of s: sha1 of the sso-session name, or of
// the start URL for a legacy (session-less) login — the name botocore, the
// Go SDK's ssocreds.StandardCachedTokenFilepath and the JavaScript SDKs use.
func (c Cache) TokenPath(s Session) string {
	return filepath.Join(c.Dir, sha1Hex(s.cacheKey())+".json")
}

// ReadToken reads the token of s. A missing file is an error matching
// fs.ErrNotExist.
func (c Cache) ReadToken(s Session) (*CachedToken, error) {
	path := c.TokenPath(s)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t CachedToken
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("token cache %s: %w", path, err)
	}
	if t.AccessToken == "" {
		return nil, fmt.Errorf("token cache %s: no accessToken", path)
	}
	return &t, nil
}

// WriteToken writes the token of s atomically, mode 0600, in a directory
// of mode 0700.
func (c Cache) WriteToken(s Session, t *CachedToken) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return writeFileAtomic(c.TokenPath(s), data)
}

// RemoveToken removes the token of s. It is not an error if there was none.
func (c Cache) RemoveToken(s Session) error {
	err := os.Remove(c.TokenPath(s))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// cachedRegistration is the AWS CLI's registration file.
type cachedRegistration struct {
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret"`
	ExpiresAt    string   `json:"expiresAt"`
	Scopes       []string `json:"scopes,omitempty"`
	GrantTypes   []string `json:"grantTypes,omitempty"`
}

// RegistrationPath is the file of the client registration for s, named as
// the AWS CLI names it: sha1 of
// json.dumps({"tool": "botocore", "startUrl", "region", "scopes",
// "session_name"}, sort_keys=True), so that both tools share one
// registration.
func (c Cache) RegistrationPath(s Session) string {
	var b strings.Builder
	b.WriteString(`{"region": `)
	writePyString(&b, s.Region)
	b.WriteString(`, "scopes": `)
	if s.Scopes == nil {
		b.WriteString("null")
	} else {
		b.WriteByte('[')
		for i, sc := range s.Scopes {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyString(&b, sc)
		}
		b.WriteByte(']')
	}
	b.WriteString(`, "session_name": `)
	if s.Name == "" {
		b.WriteString("null")
	} else {
		writePyString(&b, s.Name)
	}
	b.WriteString(`, "startUrl": `)
	writePyString(&b, s.StartURL)
	b.WriteString(`, "tool": "botocore"}`)
	return filepath.Join(c.Dir, sha1Hex(b.String())+".json")
}

func (c Cache) readRegistration(s Session) (*Registration, error) {
	data, err := os.ReadFile(c.RegistrationPath(s))
	if err != nil {
		return nil, err
	}
	var r cachedRegistration
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if r.ClientID == "" || r.ClientSecret == "" {
		return nil, errors.New("registration cache: no client id or secret")
	}
	reg := &Registration{ClientID: r.ClientID, ClientSecret: r.ClientSecret, Scopes: r.Scopes, GrantTypes: r.GrantTypes}
	if r.ExpiresAt != "" {
		if reg.ExpiresAt, err = parseCacheTime(r.ExpiresAt); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

func (c Cache) writeRegistration(s Session, reg *Registration) error {
	r := cachedRegistration{ClientID: reg.ClientID, ClientSecret: reg.ClientSecret, Scopes: reg.Scopes, GrantTypes: reg.GrantTypes}
	if !reg.ExpiresAt.IsZero() {
		r.ExpiresAt = formatCacheTime(reg.ExpiresAt)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(c.RegistrationPath(s), data)
}

func (c Cache) removeRegistration(s Session) {
	_ = os.Remove(c.RegistrationPath(s))
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*.json") // mode 0600
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// writePyString writes s as Python's json.dumps does (ensure_ascii).
func writePyString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (r >= 0x7f && r < 0x10000):
				if r == 0x7f {
					b.WriteRune(r)
				} else {
					fmt.Fprintf(b, `\u%04x`, r)
				}
			case r >= 0x10000:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
