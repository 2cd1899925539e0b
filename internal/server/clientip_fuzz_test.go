package server

import (
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/ssooidc/ssooidc/internal/ratelimit"
)

// FuzzClientIP: the client address the limits count comes from the
// connection, or from X-Forwarded-For only through a trusted proxy; no
// header makes an untrusted peer look like another address, and whatever
// a proxy forwards parses or falls back to the peer.
func FuzzClientIP(f *testing.F) {
	for _, seed := range []struct{ remote, xff string }{
		{"10.0.0.5:443", "203.0.113.9"},
		{"10.0.0.5:443", "203.0.113.9, 10.0.0.7"},
		{"192.0.2.1:5555", "198.51.100.1"},
		{"[2001:db8::1]:443", "2001:db8:1::2"},
		{"10.0.0.5:443", "garbage, 203.0.113.9"},
		{"10.0.0.5:443", ""},
		{"not-an-address", "1.2.3.4"},
	} {
		f.Add(seed.remote, seed.xff)
	}
	trusted, err := parsePrefixes([]string{"10.0.0.0/8", "2001:db8::/64"})
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{trusted: trusted}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := s.clientIP(r)
		host, _, err := net.SplitHostPort(remote)
		if err != nil {
			host = remote
		}
		peer, perr := netip.ParseAddr(host)
		if perr != nil || !s.isTrusted(peer) {
			if got != host {
				t.Errorf("untrusted peer %q with X-Forwarded-For %q: client %q", remote, xff, got)
			}
			return
		}
		if got != host {
			a, err := netip.ParseAddr(got)
			if err != nil || s.isTrusted(a) {
				t.Errorf("trusted peer %q, X-Forwarded-For %q: client %q is not an untrusted address", remote, xff, got)
			}
		}
		_ = ratelimit.IPGroup(got)
	})
}
