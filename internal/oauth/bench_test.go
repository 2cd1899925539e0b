package oauth

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/store"
)

// The engine's hot paths on a real SQLite store, without HTTP: what one
// request costs in the engine and the store. Run with -cpu 1 for the
// one-core figures. Each benchmark keeps 16 requests in flight per
// GOMAXPROCS (RunParallel with SetParallelism), as a server under load
// has, so the store can group concurrent writes.

// inFlight is the number of concurrent requests per GOMAXPROCS.
const inFlight = 16

const benchStartURL = testIssuer + "/start"

// benchClock is a fake clock the benchmarks move forward atomically.
type benchClock struct{ us atomic.Int64 }

func (c *benchClock) Now() time.Time { return time.UnixMicro(c.us.Load()).UTC() }

// reportCPU starts measuring and returns the function that reports, after
// the timed loop, the process's CPU time per operation as cpu-ns/op. On a
// shared machine the wall time per op moves with the neighbours' load; the
// CPU time a request costs much less so.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if used := processCPU() - start; used > 0 && b.N > 0 {
			b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func newBenchEngine(b *testing.B, cfg Config) (*Engine, Store, *benchClock) {
	b.Helper()
	st := openSQLite(b)
	clock := &benchClock{}
	clock.us.Store(testT0.UnixMicro())
	cfg.Issuer = testIssuer
	return New(st, testKeys(b), cfg, clock.Now, nil), st, clock
}

func benchClient(b *testing.B, e *Engine) RegisteredClient {
	b.Helper()
	c, err := e.RegisterClient(context.Background(), RegisterRequest{ClientName: "bench", ClientType: "public", Scopes: []string{"sso:account:access"}})
	if err != nil {
		b.Fatalf("RegisterClient: %v", err)
	}
	return c
}

func BenchmarkEngineStartDeviceAuthorization(b *testing.B) {
	e, _, _ := newBenchEngine(b, Config{})
	c := benchClient(b, e)
	req := StartRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, StartURL: benchStartURL, RequestIP: "127.0.0.1", UserAgent: "aws-cli/2"}
	b.ReportAllocs()
	b.SetParallelism(inFlight)
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := e.StartDeviceAuthorization(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchLiveGrants are the numbers of live grants the pending-poll
// benchmark runs with. The larger is 10 000 by default so that CI's single
// pass stays quick (storing them takes seconds);
// SSOOIDC_BENCH_LIVE_GRANTS=100000 gives the figure docs/performance.md
// reports.
func benchLiveGrants(b *testing.B) []int {
	large := 10_000
	if v := os.Getenv("SSOOIDC_BENCH_LIVE_GRANTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("SSOOIDC_BENCH_LIVE_GRANTS=%q: want a number ≥ 100", v)
		}
		large = n
	}
	return []int{100, large}
}

// BenchmarkEnginePendingPoll is CreateToken on a pending device code, the
// answer every waiting client gets every few seconds. The cost must not
// depend on how many grants are live (a primary-key lookup), so it runs
// with 100 and with many live grants. Each goroutine polls its own share of
// the polled grants in turn while the clock advances a second per poll, so
// no grant is polled twice within its 1 s interval: every answer is a
// genuine AuthorizationPending, never a cheaper slow_down.
func BenchmarkEnginePendingPoll(b *testing.B) {
	for _, live := range benchLiveGrants(b) {
		var fx *pollFixture
		b.Run(fmt.Sprintf("live=%d", live), func(sb *testing.B) {
			// Set up once per size, and only when the size is selected:
			// b.Run calls this again for each b.N it tries. Resources
			// belong to the parent, which outlives every try.
			if fx == nil {
				fx = newPollFixture(b, live)
				sb.ResetTimer()
			}
			goroutines := inFlight * runtime.GOMAXPROCS(0)
			per := len(fx.reqs) / goroutines
			if per == 0 {
				sb.Fatalf("%d polled grants for %d goroutines", len(fx.reqs), goroutines)
			}
			var ids atomic.Int64
			sb.ReportAllocs()
			sb.SetParallelism(inFlight)
			defer reportCPU(sb)()
			sb.RunParallel(func(pb *testing.PB) {
				id := int(ids.Add(1) - 1)
				mine := fx.reqs[id*per : (id+1)*per]
				ctx := context.Background()
				for i := 0; pb.Next(); i++ {
					fx.clock.us.Add(time.Second.Microseconds())
					_, err := fx.engine.Token(ctx, mine[i%len(mine)])
					if AsError(err).Kind != AuthorizationPending {
						sb.Fatalf("poll %d: %v, want AuthorizationPending", i, err)
					}
				}
			})
		})
	}
}

type pollFixture struct {
	engine *Engine
	clock  *benchClock
	reqs   []TokenRequest
}

// newPollFixture starts 1000 grants to poll (fewer when live is smaller)
// and stores the rest of live as other clients' idle grants.
func newPollFixture(b *testing.B, live int) *pollFixture {
	ctx := context.Background()
	e, st, clock := newBenchEngine(b, Config{DeviceCodeLifetime: 100 * 365 * 24 * time.Hour})
	c := benchClient(b, e)
	fx := &pollFixture{engine: e, clock: clock, reqs: make([]TokenRequest, min(live, 1000))}
	for i := range fx.reqs {
		d, err := e.StartDeviceAuthorization(ctx, StartRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, StartURL: benchStartURL})
		if err != nil {
			b.Fatal(err)
		}
		fx.reqs[i] = TokenRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, GrantType: GrantDeviceCode, DeviceCode: d.DeviceCode}
	}
	if n := live - len(fx.reqs); n > 0 {
		began := time.Now()
		fillGrants(b, st, c.ClientID, clock.Now(), n)
		b.Logf("live=%d: stored %d idle grants in %s", live, n, time.Since(began).Round(time.Millisecond))
	}
	return fx
}

// fillGrants stores n pending grants with random codes straight into the
// store, several at a time so that the backend can batch them.
func fillGrants(b *testing.B, st Store, clientID string, now time.Time, n int) {
	b.Helper()
	if n <= 0 {
		return
	}
	const workers = 16
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(n))
	for range workers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				g := store.DeviceGrant{
					DeviceCodeHash: randomBytes(32),
					UserCodeHash:   randomBytes(32),
					ClientID:       clientID,
					Scopes:         []string{"sso:account:access"},
					StartURL:       benchStartURL,
					Status:         store.DevicePending,
					Interval:       time.Second,
					CreatedAt:      now,
					ExpiresAt:      now.Add(365 * 24 * time.Hour),
				}
				if err := st.CreateDeviceGrant(context.Background(), g); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

func randomBytes(n int) []byte {
	p := make([]byte, n)
	rand.Read(p)
	return p
}

// BenchmarkEngineRefresh is CreateToken with the refresh_token grant,
// rotation included: each goroutine follows its own chain, presenting the
// token the previous refresh returned.
func BenchmarkEngineRefresh(b *testing.B) {
	e, st, _ := newBenchEngine(b, Config{})
	c := benchClient(b, e)
	ctx := context.Background()
	u := store.User{ID: "u1", Name: "alice", PasswordHash: "x", CreatedAt: testT0, UpdatedAt: testT0}
	if err := st.(interface {
		CreateUser(context.Context, store.User) error
	}).CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	chains := make(chan string, inFlight*runtime.GOMAXPROCS(0))
	for range cap(chains) {
		d, err := e.StartDeviceAuthorization(ctx, StartRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, StartURL: benchStartURL})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.DecideDevice(ctx, d.UserCode, u.ID, true); err != nil {
			b.Fatal(err)
		}
		t, err := e.Token(ctx, TokenRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, GrantType: GrantDeviceCode, DeviceCode: d.DeviceCode})
		if err != nil {
			b.Fatal(err)
		}
		chains <- t.RefreshToken
	}
	b.ReportAllocs()
	b.SetParallelism(inFlight)
	b.ResetTimer()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		req := TokenRequest{ClientID: c.ClientID, ClientSecret: c.ClientSecret, GrantType: GrantRefreshToken, RefreshToken: <-chains}
		for pb.Next() {
			t, err := e.Token(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			req.RefreshToken = t.RefreshToken
		}
	})
}
