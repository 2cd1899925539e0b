package server_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
	"github.com/jackc/pgx/v5"

	"github.com/ssooidc/ssooidc/internal/reqinfo"
	"github.com/ssooidc/ssooidc/internal/server/servertest"
	"github.com/ssooidc/ssooidc/internal/store/postgres/pgtest"
)

// replicas starts n servers on loopback ports sharing one fresh PostgreSQL
// schema and one clock, as replicas behind a load balancer would.
func replicas(t *testing.T, n int, db string) []*servertest.Server {
	t.Helper()
	clock := servertest.NewClock(time.Now().UTC().Truncate(time.Second))
	out := make([]*servertest.Server, n)
	for i := range out {
		out[i] = servertest.Start(t, servertest.WithDB(db), servertest.WithClock(clock))
	}
	return out
}

// on rewrites a URL of one replica to another.
func on(s *servertest.Server, url string, from *servertest.Server) string {
	return strings.Replace(url, from.URL, s.URL, 1)
}

// TestReplicasShareOneDatabase: a device authorization started on A,
// approved through B's pages, polled on C gets its tokens exactly once;
// the browser session made on B works on C; slow_down holds across
// replicas; a registration made on one works on all.
func TestReplicasShareOneDatabase(t *testing.T) {
	rs := replicas(t, 3, pgtest.URL(t))
	a, b, c := rs[0], rs[1], rs[2]
	a.AddUser(t, testUser, testPassword)

	l := startDeviceLogin(t, a)
	lc := l
	lc.client = sdkClient(t, c)
	_, err := lc.poll()
	wantErr[*types.AuthorizationPendingException](t, err)

	browser := b.NewBrowser(t)
	browser.Decide(on(b, aws.ToString(l.start.VerificationUriComplete), a), testUser, testPassword, true)

	tok, err := lc.poll()
	if err != nil {
		t.Fatalf("poll on C after approval on B: %v", err)
	}
	lb := l
	lb.client = sdkClient(t, b)
	_, err = lb.poll()
	wantErr[*types.InvalidGrantException](t, err)

	// Refresh on B, reuse after the grace on A: the family is revoked on all.
	ref, err := lb.refresh(aws.ToString(tok.RefreshToken))
	if err != nil {
		t.Fatalf("refresh on B: %v", err)
	}
	a.Clock.Advance(10 * time.Second)
	_, err = l.refresh(aws.ToString(tok.RefreshToken))
	wantErr[*types.InvalidGrantException](t, err)
	_, err = lc.refresh(aws.ToString(ref.RefreshToken))
	wantErr[*types.InvalidGrantException](t, err)

	// The session cookie B set signs the person in on C: no password asked.
	l2 := startDeviceLogin(t, c)
	p := browser.Get(on(c, aws.ToString(l2.start.VerificationUriComplete), c))
	if _, ok := p.FormWith("password"); ok {
		t.Error("C asked for the password although B's session is live")
	}
	if _, ok := p.FormWith("action"); !ok {
		t.Errorf("no consent form on C:\n%s", p.Body)
	}

	// slow_down across replicas: two polls on A, the third on B is too early.
	l3 := startDeviceLogin(t, a)
	_, err = l3.poll()
	wantErr[*types.AuthorizationPendingException](t, err)
	_, err = l3.poll()
	wantErr[*types.AuthorizationPendingException](t, err)
	l3b := l3
	l3b.client = sdkClient(t, b)
	_, err = l3b.poll()
	wantErr[*types.SlowDownException](t, err)

	// Each replica exports its pool.
	m := scrape(t, a.URL+"/metrics")
	if got := m["ssooidc_db_pool_max_connections"][""]; got != 16 {
		t.Errorf("pool max connections = %v, want 16 (db_max_conns)", got)
	}
	if got := m["ssooidc_db_pool_connections"][""]; got < 1 {
		t.Errorf("pool connections = %v, want at least 1", got)
	}
}

// TestReplicasRaceOneApprovedCode: 50 pollers spread over three replicas
// race for one approved device code; exactly one gets the tokens.
func TestReplicasRaceOneApprovedCode(t *testing.T) {
	rs := replicas(t, 3, pgtest.URL(t))
	rs[0].AddUser(t, testUser, testPassword)
	l := startDeviceLogin(t, rs[0])
	rs[1].NewBrowser(t).Decide(on(rs[1], aws.ToString(l.start.VerificationUriComplete), rs[0]), testUser, testPassword, true)

	clients := []*ssooidc.Client{sdkClient(t, rs[0]), sdkClient(t, rs[1]), sdkClient(t, rs[2])}
	const pollers = 50
	var wins, invalid, other atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range pollers {
		li := l
		li.client = clients[i%3]
		wg.Go(func() {
			<-start
			_, err := li.poll()
			var ig *types.InvalidGrantException
			var sd *types.SlowDownException
			switch {
			case err == nil:
				wins.Add(1)
			case errors.As(err, &ig), errors.As(err, &sd):
				invalid.Add(1)
			default:
				other.Add(1)
				t.Errorf("poller: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || other.Load() != 0 {
		t.Errorf("wins = %d, refused = %d, other errors = %d; want exactly one win", wins.Load(), invalid.Load(), other.Load())
	}
}

// TestReplicasSurviveKilledConnections kills the test's own database
// connections mid-traffic (the shared server is not restarted): every
// acknowledged device authorization survives and the replicas recover
// without a restart.
func TestReplicasSurviveKilledConnections(t *testing.T) {
	appName := "ssooidc_fault_" + strings.ReplaceAll(reqinfo.NewID()[:8], "-", "")
	db, err := pgtest.WithParam(pgtest.URL(t), "application_name", appName)
	if err != nil {
		t.Fatal(err)
	}
	rs := replicas(t, 2, db)
	reg, err := sdkClient(t, rs[0]).RegisterClient(context.Background(), &ssooidc.RegisterClientInput{
		ClientName: aws.String("fault"), ClientType: aws.String("public"),
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithCancel(context.Background())
	killerDone := make(chan int)
	go func() {
		kills := 0
		defer func() { killerDone <- kills }()
		conn, err := pgx.Connect(context.Background(), strings.Replace(db, appName, "killer", 1))
		if err != nil {
			t.Errorf("killer: %v", err)
			return
		}
		defer conn.Close(context.Background())
		for ctx.Err() == nil {
			var n int
			err := conn.QueryRow(context.Background(),
				`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, appName).Scan(&n)
			if err != nil {
				t.Errorf("killer: %v", err)
				return
			}
			kills += n
			time.Sleep(30 * time.Millisecond)
		}
	}()

	var acknowledged []*string // device codes the server answered 200 for
	failures := 0
	for i := range 60 {
		c := sdkClient(t, rs[i%2])
		out, err := c.StartDeviceAuthorization(context.Background(), &ssooidc.StartDeviceAuthorizationInput{
			ClientId: reg.ClientId, ClientSecret: reg.ClientSecret, StartUrl: aws.String(testStartURL),
		})
		if err != nil {
			var ise *types.InternalServerException
			if !errors.As(err, &ise) {
				t.Fatalf("start %d: %v (want success or InternalServerException)", i, err)
			}
			failures++
			continue
		}
		acknowledged = append(acknowledged, out.DeviceCode)
	}
	stop()
	kills := <-killerDone
	t.Logf("%d connections killed; %d of 60 starts acknowledged, %d answered InternalServerException", kills, len(acknowledged), failures)
	if kills == 0 {
		t.Error("the killer terminated no connection: the test proved nothing")
	}

	// Recovered without restart, and nothing acknowledged was lost.
	for i, code := range acknowledged {
		c := sdkClient(t, rs[(i+1)%2])
		_, err := c.CreateToken(context.Background(), &ssooidc.CreateTokenInput{
			ClientId: reg.ClientId, ClientSecret: reg.ClientSecret,
			GrantType: aws.String("urn:ietf:params:oauth:grant-type:device_code"), DeviceCode: code,
		})
		wantErr[*types.AuthorizationPendingException](t, err)
	}
}
