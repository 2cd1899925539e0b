package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/server/servertest"
)

// Benchmarks drive the whole server handler in-process — middleware,
// metrics, mux, the AWS dialect, the engine and a real SQLite store, with
// the audit writer running — but no network, so the figures are the
// server's own CPU per request.

type benchServer struct {
	tb testing.TB
	s  *servertest.Server
	h  http.Handler
}

func newBenchServer(b *testing.B) *benchServer {
	b.Helper()
	s := servertest.Start(b, servertest.WithConfig(func(c *config.Config) {
		// No grant may expire, and no limit may answer instead of the
		// operation, however large b.N grows.
		c.DeviceCodeLifetime = config.Duration(365 * 24 * time.Hour)
		c.LimitRegisterPerIP = 0
		c.LimitDeviceStartPerIP = 0
		c.MaxLiveDeviceGrantsPerClient = 0
	}))
	return &benchServer{tb: b, s: s, h: s.Server.Handler()}
}

// post serves one AWS-dialect request and returns the recorder.
func (bs *benchServer) post(path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	bs.h.ServeHTTP(rec, req)
	return rec
}

// ok decodes a 200 answer into v.
func (bs *benchServer) ok(rec *httptest.ResponseRecorder, v any) {
	bs.tb.Helper()
	if rec.Code != http.StatusOK {
		bs.tb.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		bs.tb.Fatalf("decode %s: %v", rec.Body, err)
	}
}

type benchClient struct{ ClientID, ClientSecret string }

func (bs *benchServer) register() benchClient {
	var c benchClient
	bs.ok(bs.post("/client/register", []byte(`{"clientName":"botocore-client-bench","clientType":"public","scopes":["sso:account:access"]}`)), &c)
	return c
}

func (c benchClient) startBody() []byte {
	return []byte(`{"clientId":"` + c.ClientID + `","clientSecret":"` + c.ClientSecret + `","startUrl":"` + testStartURL + `"}`)
}

func (c benchClient) pollBody(deviceCode string) []byte {
	return []byte(`{"clientId":"` + c.ClientID + `","clientSecret":"` + c.ClientSecret + `","grantType":"urn:ietf:params:oauth:grant-type:device_code","deviceCode":"` + deviceCode + `"}`)
}

type benchGrant struct{ DeviceCode, UserCode string }

func (bs *benchServer) start(c benchClient) benchGrant {
	var g benchGrant
	bs.ok(bs.post("/device_authorization", c.startBody()), &g)
	return g
}

// BenchmarkServerCreateTokenPending is a pending poll, the bulk of the
// traffic. Polls rotate over a pool of grants while the clock advances
// 20 ms per poll, so each grant sees a poll every 1.28 s, slower than its
// 1 s interval: every answer is AuthorizationPending, never slow_down.
func BenchmarkServerCreateTokenPending(b *testing.B) {
	bs := newBenchServer(b)
	c := bs.register()
	const pool = 64
	bodies := make([][]byte, pool)
	for i := range bodies {
		bodies[i] = c.pollBody(bs.start(c).DeviceCode)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		bs.s.Clock.Advance(20 * time.Millisecond)
		rec := bs.post("/token", bodies[i%pool])
		if rec.Code != http.StatusBadRequest || rec.Header().Get("X-Amzn-Errortype") != "AuthorizationPendingException" {
			b.Fatalf("poll %d: %d %s", i, rec.Code, rec.Body)
		}
		i++
	}
}

// BenchmarkServerStartDeviceAuthorization includes the audit event each
// start records, written by the background writer.
func BenchmarkServerStartDeviceAuthorization(b *testing.B) {
	bs := newBenchServer(b)
	body := bs.register().startBody()
	b.ReportAllocs()
	for b.Loop() {
		if rec := bs.post("/device_authorization", body); rec.Code != http.StatusOK {
			b.Fatalf("StartDeviceAuthorization: %d %s", rec.Code, rec.Body)
		}
	}
	// The events queued so far are part of the work measured.
	if err := bs.s.Server.FlushAudit(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkServerCreateTokenRefresh follows one rotation chain, as a
// client refreshing with the token each answer returns.
func BenchmarkServerCreateTokenRefresh(b *testing.B) {
	bs := newBenchServer(b)
	c := bs.register()
	g := bs.start(c)
	u := bs.s.AddUser(b, "alice", "a long bench passphrase")
	if err := bs.s.Server.Engine().DecideDevice(context.Background(), g.UserCode, u.ID, true); err != nil {
		b.Fatal(err)
	}
	var tk struct{ RefreshToken string }
	bs.ok(bs.post("/token", c.pollBody(g.DeviceCode)), &tk)
	b.ReportAllocs()
	for b.Loop() {
		body := []byte(`{"grantType":"refresh_token","clientId":"` + c.ClientID + `","clientSecret":"` + c.ClientSecret + `","refreshToken":"` + tk.RefreshToken + `"}`)
		bs.ok(bs.post("/token", body), &tk)
		if tk.RefreshToken == "" {
			b.Fatal("refresh answer without a refresh token")
		}
	}
	if err := bs.s.Server.FlushAudit(context.Background()); err != nil {
		b.Fatal(err)
	}
}
