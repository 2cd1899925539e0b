package awsapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/oauth"
)

// Benchmarks go through the whole HTTP stack (a loopback server, one
// keep-alive client) into a real engine on a real SQLite file, so the
// figures include what a client sees; allocations count both ends.

type benchServer struct {
	h      *harness
	url    string
	client *http.Client
}

func newBenchServer(b *testing.B, cfg oauth.Config) *benchServer {
	b.Helper()
	h := newHarnessConfig(b, cfg)
	srv := httptest.NewServer(h.mux)
	b.Cleanup(srv.Close)
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 4
	return &benchServer{h: h, url: srv.URL, client: client}
}

// post sends body and returns the status, x-amzn-ErrorType and the body;
// reading the body to the end keeps the connection alive.
func (s *benchServer) post(b *testing.B, path string, body []byte) (int, string, []byte) {
	resp, err := s.client.Post(s.url+path, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatalf("POST %s: read: %v", path, err)
	}
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), out
}

// BenchmarkCreateTokenPending is the device flow's hot path: a pending
// poll. Polls rotate over a pool of grants while the fake clock advances
// 20 ms per poll, so each grant sees a poll every 1.28 s, slower than its
// 1 s interval: every answer is a genuine AuthorizationPending, never a
// cheaper slow_down. The device code lifetime is raised so that no grant
// expires however large b.N grows.
func BenchmarkCreateTokenPending(b *testing.B) {
	s := newBenchServer(b, oauth.Config{Issuer: testIssuer, DeviceCodeLifetime: 365 * 24 * time.Hour})
	c := s.h.register()
	const pool = 64
	bodies := make([][]byte, pool)
	for i := range bodies {
		bodies[i] = []byte(c.pollBody(s.h.start(c).DeviceCode))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.h.clock.Advance(20 * time.Millisecond)
		status, errType, body := s.post(b, "/token", bodies[i%pool])
		if status != 400 || errType != "AuthorizationPendingException" {
			b.Fatalf("poll %d: %d %s %s", i, status, errType, body)
		}
		i++
	}
}

func BenchmarkStartDeviceAuthorization(b *testing.B) {
	s := newBenchServer(b, oauth.Config{Issuer: testIssuer})
	body := []byte(s.h.register().startBody())
	b.ReportAllocs()
	for b.Loop() {
		if status, _, out := s.post(b, "/device_authorization", body); status != 200 {
			b.Fatalf("StartDeviceAuthorization: %d %s", status, out)
		}
	}
}

func BenchmarkRegisterClient(b *testing.B) {
	s := newBenchServer(b, oauth.Config{Issuer: testIssuer})
	body := []byte(`{"clientName":"botocore-client-bench","clientType":"public","scopes":["sso:account:access"]}`)
	b.ReportAllocs()
	for b.Loop() {
		if status, _, out := s.post(b, "/client/register", body); status != 200 {
			b.Fatalf("RegisterClient: %d %s", status, out)
		}
	}
}

// BenchmarkCreateTokenRefresh follows one rotation chain, as a client
// refreshing with the token each answer returns.
func BenchmarkCreateTokenRefresh(b *testing.B) {
	s := newBenchServer(b, oauth.Config{Issuer: testIssuer})
	c := s.h.register()
	refresh := s.h.login(c).RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		status, _, out := s.post(b, "/token", []byte(c.refreshBody(refresh)))
		if status != 200 {
			b.Fatalf("refresh: %d %s", status, out)
		}
		var tk tokens
		if err := json.Unmarshal(out, &tk); err != nil || tk.RefreshToken == "" {
			b.Fatalf("refresh answer %s: %v", out, err)
		}
		refresh = tk.RefreshToken
	}
}

// BenchmarkDecodeCreateToken is this package's own share of a poll: one
// decode of a CLI-shaped body into the typed request.
func BenchmarkDecodeCreateToken(b *testing.B) {
	body := []byte(`{"grantType": "urn:ietf:params:oauth:grant-type:device_code", "clientId": "QmPn2Hk0Q9Zf4ZyqoqvH2m0M", "clientSecret": "sso_cs_9oTtq4nJ0e3vUj5pYjv2wQmXc2m6gRZqk0Vh9cX5b8Y", "deviceCode": "sso_dc_1Qd9zHc0m2V8pWQe7kLrY3sTn5uJx4bA6fG0hK2iM8o"}`)
	b.ReportAllocs()
	for b.Loop() {
		var q createTokenRequest
		if err := parse(body, &q); err != nil {
			b.Fatal(err)
		}
	}
}

// discardWriter keeps nothing but its header map, so that a benchmark
// measures the answer's own work, not a recorder's copies.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkWriteErrorPending is this package's own share of a pending
// poll's answer, logged at the production level (pending: not at all).
func BenchmarkWriteErrorPending(b *testing.B) {
	a := New(newHarness(b).engine, nil)
	r := httptest.NewRequest(http.MethodPost, "/token", nil)
	err := withClient("client", oauth.Errorf(oauth.AuthorizationPending, "Authorization is still pending."))
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.h[keyRequestID] = []string{"id"}
		a.writeError(w, r, "CreateToken", "id", err)
	}
}
