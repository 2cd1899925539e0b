package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/postgres/pgtest"
	"github.com/ssooidc/ssooidc/internal/store/storetest"
)

func skipWithoutPostgres(t *testing.T) {
	t.Helper()
	if os.Getenv(pgtest.EnvVar) == "" {
		t.Skip(pgtest.EnvVar + " is not set; skipping PostgreSQL tests")
	}
}

func openTest(t *testing.T, url string, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	skipWithoutPostgres(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, pgtest.URL(t), Options{})
	})
}

var t0 = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

func h(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func testUser(id, name string) store.User {
	return store.User{ID: id, Name: name, Email: name + "@example.test", CreatedAt: t0, UpdatedAt: t0}
}

func countMigrations(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatalf("count migrations: %v", err)
	}
	return n
}

func TestReopenKeepsData(t *testing.T) {
	skipWithoutPostgres(t)
	ctx := t.Context()
	url := pgtest.URL(t)
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := testUser("u1", "alice")
	if err := s.CreateUser(ctx, want); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if _, err := s.PutSettingIfAbsent(ctx, "key_fingerprint", "abc"); err != nil {
		t.Fatalf("PutSettingIfAbsent: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openTest(t, url, Options{})
	got, err := s.GetUser(ctx, want.ID)
	if err != nil {
		t.Fatalf("GetUser after reopen: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetUser after reopen mismatch (-want +got):\n%s", diff)
	}
	if v, err := s.GetSetting(ctx, "key_fingerprint"); err != nil || v != "abc" {
		t.Errorf("GetSetting after reopen = %q, %v; want %q, nil", v, err, "abc")
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() {
		t.Errorf("SchemaVersion = %d, %v; want %d, nil", v, err, LatestSchemaVersion())
	}
	if n := countMigrations(t, s); n != LatestSchemaVersion() {
		t.Errorf("schema_migrations rows = %d, want %d (each migration recorded once)", n, LatestSchemaVersion())
	}
}

// TestConcurrentOpen starts replicas together on a fresh schema: the
// migration lock lets one migrate and the others find the schema ready.
func TestConcurrentOpen(t *testing.T) {
	skipWithoutPostgres(t)
	url := pgtest.URL(t)
	const replicas = 4
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(t.Context(), url, Options{})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	if n := countMigrations(t, stores[0]); n != LatestSchemaVersion() {
		t.Errorf("schema_migrations rows = %d, want %d (each migration recorded once)", n, LatestSchemaVersion())
	}
	// Every replica works on the one schema.
	for i, s := range stores {
		u := testUser(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i))
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Errorf("replica %d: CreateUser: %v", i, err)
		}
	}
	users, err := stores[0].ListUsers(t.Context())
	if err != nil || len(users) != replicas {
		t.Errorf("ListUsers = %d users, %v; want %d", len(users), err, replicas)
	}
}

// TestSchemaCompatibility plays a rolling upgrade: a newer release has
// migrated the schema past this binary. Its migration's compatible-with
// decides whether this binary may still run.
func TestSchemaCompatibility(t *testing.T) {
	skipWithoutPostgres(t)
	ctx := t.Context()
	url := pgtest.URL(t)
	s := openTest(t, url, Options{})
	latest := LatestSchemaVersion()
	future := latest + 1
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at, compatible_with) VALUES ($1, 0, $2)`,
		future, latest+1); err != nil {
		t.Fatalf("insert future version: %v", err)
	}

	// The newer release declared this binary too old: refused.
	if s2, err := Open(ctx, url, Options{}); err == nil {
		s2.Close()
		t.Errorf("Open(schema requiring %d) succeeded, want an error", latest+1)
	} else {
		var tooNew *SchemaTooNewError
		if !errors.As(err, &tooNew) {
			t.Fatalf("Open(schema requiring %d) error = %v, want a *SchemaTooNewError", latest+1, err)
		}
		if tooNew.Version != future || tooNew.MinCompatible != latest+1 || tooNew.Supported != latest {
			t.Errorf("SchemaTooNewError = %+v, want Version %d, MinCompatible %d, Supported %d", tooNew, future, latest+1, latest)
		}
		if want := fmt.Sprintf("database schema version %d is newer than this binary supports (%d", future, latest); !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to contain %q", err, want)
		}
		if want := "upgrade ssooidc"; !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to contain %q", err, want)
		}
	}

	// The newer release declared itself compatible with this one: it runs,
	// without touching the schema.
	for i, compat := range []int{latest, 1} {
		if _, err := s.pool.Exec(ctx, `UPDATE schema_migrations SET compatible_with = $1 WHERE version = $2`,
			compat, future); err != nil {
			t.Fatalf("update compatible_with: %v", err)
		}
		old, err := Open(ctx, url, Options{})
		if err != nil {
			t.Fatalf("Open(schema %d compatible with %d) by a binary at %d: %v", future, compat, latest, err)
		}
		if v, err := old.SchemaVersion(ctx); err != nil || v != future {
			t.Errorf("SchemaVersion = %d, %v; want %d", v, err, future)
		}
		if err := old.CreateUser(ctx, testUser(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i))); err != nil {
			t.Errorf("CreateUser on a compatible newer schema: %v", err)
		}
		old.Close()
	}
	if n := countMigrations(t, s); n != latest+1 {
		t.Errorf("schema_migrations rows = %d, want %d", n, latest+1)
	}
	// The minimum is the highest any migration declared.
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at, compatible_with) VALUES ($1, 0, $2)`,
		future+1, 1); err != nil {
		t.Fatalf("insert future version: %v", err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE schema_migrations SET compatible_with = $1 WHERE version = $2`,
		latest+1, future); err != nil {
		t.Fatalf("update compatible_with: %v", err)
	}
	if s2, err := Open(ctx, url, Options{}); err == nil {
		s2.Close()
		t.Errorf("Open(an older migration requires %d) succeeded, want an error", latest+1)
	}
}

func TestMigrations(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatalf("migrations: %v", err)
	}
	if len(ms) == 0 || LatestSchemaVersion() != len(ms) {
		t.Errorf("LatestSchemaVersion = %d with %d migrations", LatestSchemaVersion(), len(ms))
	}
	if ms[0].compatibleWith != 1 {
		t.Errorf("%s: compatible-with %d, want 1", ms[0].name, ms[0].compatibleWith)
	}
	for _, c := range []struct {
		sql  string
		want int
		ok   bool
	}{
		{"-- compatible-with: 3\nCREATE TABLE x ();", 3, true},
		{"-- A comment.\n\n--compatible-with:2\n-- more\nSELECT 1;", 0, false},
		{"-- A comment.\n--\n-- compatible-with:  2 \nSELECT 1;", 2, true},
		{"CREATE TABLE x ();\n-- compatible-with: 1", 0, false},
		{"-- compatible-with: two", 0, false},
		{"", 0, false},
	} {
		got, err := parseCompatibleWith(c.sql)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseCompatibleWith(%q) = %d, %v; want %d, ok %v", c.sql, got, err, c.want, c.ok)
		}
	}
}

func TestOptions(t *testing.T) {
	skipWithoutPostgres(t)
	ctx := t.Context()
	url := pgtest.URL(t)
	show := func(s *Store, name string) string {
		t.Helper()
		var v string
		if err := s.pool.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
			t.Fatalf("SHOW %s: %v", name, err)
		}
		return v
	}

	s := openTest(t, url, Options{})
	if got := s.pool.Config().MaxConns; got != DefaultMaxConns {
		t.Errorf("default MaxConns = %d, want %d", got, DefaultMaxConns)
	}
	if got := show(s, "statement_timeout"); got != "5s" {
		t.Errorf("default statement_timeout = %s, want 5s", got)
	}
	if got := show(s, "application_name"); got != "ssooidc" {
		t.Errorf("default application_name = %s, want ssooidc", got)
	}

	s = openTest(t, url, Options{MaxConns: 3, StatementTimeout: 250 * time.Millisecond})
	if got := s.pool.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d, want 3", got)
	}
	if got := show(s, "statement_timeout"); got != "250ms" {
		t.Errorf("statement_timeout = %s, want 250ms", got)
	}
	if _, err := s.pool.Exec(ctx, "SELECT pg_sleep(2)"); err == nil {
		t.Errorf("a statement longer than the timeout succeeded")
	}

	// The connection string's settings stand unless Options overrides them.
	withParams := url
	for _, p := range [][2]string{{"pool_max_conns", "5"}, {"statement_timeout", "7000"}, {"application_name", "replica-a"}} {
		var err error
		if withParams, err = pgtest.WithParam(withParams, p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	s = openTest(t, withParams, Options{})
	if got := s.pool.Config().MaxConns; got != 5 {
		t.Errorf("MaxConns from pool_max_conns = %d, want 5", got)
	}
	if got := show(s, "statement_timeout"); got != "7s" {
		t.Errorf("statement_timeout from the string = %s, want 7s", got)
	}
	if got := show(s, "application_name"); got != "replica-a" {
		t.Errorf("application_name from the string = %s, want replica-a", got)
	}
	s = openTest(t, withParams, Options{StatementTimeout: -1})
	if got := show(s, "statement_timeout"); got != "0" {
		t.Errorf("statement_timeout with a negative option = %s, want 0", got)
	}

	if _, err := Open(ctx, "postgres://u:secret@/x?sslmode=bogus", Options{}); err == nil {
		t.Errorf("Open(bad sslmode) succeeded")
	} else if strings.Contains(err.Error(), "secret") {
		t.Errorf("Open error = %q, shows the password", err)
	}
}

// TestConnectionKilled terminates the store's sessions from the server side,
// as a database restart or failover does: the store carries on without
// reopening, and keeps everything it acknowledged.
func TestConnectionKilled(t *testing.T) {
	skipWithoutPostgres(t)
	ctx := t.Context()
	appName := fmt.Sprintf("ssooidc-test-kill-%d", time.Now().UnixNano())
	url, err := pgtest.WithParam(pgtest.URL(t), "application_name", appName)
	if err != nil {
		t.Fatal(err)
	}
	s := openTest(t, url, Options{MaxConns: 4})
	admin := openTest(t, pgtest.URL(t), Options{MaxConns: 1})
	kill := func() int {
		t.Helper()
		var n int
		err := admin.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`, appName).Scan(&n)
		if err != nil {
			t.Fatalf("terminate: %v", err)
		}
		return n
	}

	// Idle sessions killed: the next operations succeed.
	if err := s.CreateUser(ctx, testUser("u0", "user0")); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	// Open several sessions at once so that the pool holds more than one.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { _, _ = s.ListUsers(ctx) })
	}
	wg.Wait()
	if n := kill(); n == 0 {
		t.Fatalf("no session of %s to terminate", appName)
	}
	if _, err := s.GetUser(ctx, "u0"); err != nil {
		t.Errorf("GetUser right after the sessions were killed: %v", err)
	}
	if err := s.CreateUser(ctx, testUser("u1", "user1")); err != nil {
		t.Errorf("CreateUser right after the sessions were killed: %v", err)
	}
	kill()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping right after the sessions were killed: %v", err)
	}

	// Sessions killed while in use: an operation may fail, but whatever was
	// acknowledged is kept, and the store recovers.
	var acked sync.Map
	var failures atomic.Int64
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := testUser(fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("w%d-%d", w, i))
				if err := s.CreateUser(ctx, u); err != nil {
					if errors.Is(err, store.ErrAlreadyExists) {
						// A retry cannot cause this: it runs only what
						// did not commit.
						t.Errorf("CreateUser(%s) = %v", u.ID, err)
					}
					failures.Add(1)
					continue
				}
				acked.Store(u.ID, u)
			}
		})
	}
	for range 5 {
		time.Sleep(50 * time.Millisecond)
		kill()
	}
	close(stop)
	wg.Wait()
	t.Logf("%d operations failed while sessions were being killed", failures.Load())

	n := 0
	acked.Range(func(k, v any) bool {
		n++
		got, err := s.GetUser(ctx, k.(string))
		if err != nil {
			t.Errorf("GetUser(%s), acknowledged before the kill: %v", k, err)
		} else if diff := cmp.Diff(v.(store.User), got); diff != "" {
			t.Errorf("GetUser(%s) mismatch (-want +got):\n%s", k, diff)
		}
		return true
	})
	if n == 0 {
		t.Errorf("no CreateUser was acknowledged")
	}
	if err := s.CreateUser(ctx, testUser("u2", "user2")); err != nil {
		t.Errorf("CreateUser after recovery: %v", err)
	}
}

// TestConcurrentRefreshChains refreshes many independent token families at
// once, and one family from many concurrent copies of its token within the
// grace period: with row locks and no SERIALIZABLE retries, none fails.
func TestConcurrentRefreshChains(t *testing.T) {
	skipWithoutPostgres(t)
	ctx := t.Context()
	s := openTest(t, pgtest.URL(t), Options{})
	const chains, rounds = 64, 5
	if err := s.CreateUser(ctx, testUser("u1", "user1")); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	tokenSet := func(name string) store.TokenSet {
		return store.TokenSet{
			Family:  store.TokenFamily{ID: "family-" + name, ClientID: "c1", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(8 * time.Hour)},
			Access:  store.AccessToken{Hash: h("access-" + name), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
			Refresh: store.RefreshToken{Hash: h("refresh-" + name), CreatedAt: t0, ExpiresAt: t0.Add(8 * time.Hour)},
		}
	}
	for i := range chains {
		name := fmt.Sprintf("chain%d", i)
		code := store.AuthCode{CodeHash: h("code-" + name), ClientID: "c1", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
		if err := s.CreateAuthCode(ctx, code); err != nil {
			t.Fatalf("CreateAuthCode: %v", err)
		}
		if err := s.ConsumeAuthCode(ctx, code.CodeHash, t0, tokenSet(name)); err != nil {
			t.Fatalf("ConsumeAuthCode: %v", err)
		}
	}
	var wg sync.WaitGroup
	for i := range chains {
		wg.Go(func() {
			cur := tokenSet(fmt.Sprintf("chain%d", i)).Refresh.Hash
			for r := range rounds {
				next := tokenSet(fmt.Sprintf("chain%d-%d", i, r))
				now := t0.Add(time.Duration(r+1) * time.Minute)
				if _, err := s.RotateRefreshToken(ctx, cur, "c1", now, 0, storetest.Fixed(next)); err != nil {
					t.Errorf("chain %d round %d: %v", i, r, err)
					return
				}
				cur = next.Refresh.Hash
			}
		})
	}
	wg.Wait()

	// One cached token refreshed by many at once, within grace: all win.
	shared := tokenSet("chain0").Refresh.Hash // rotated above at t0+1m
	errs := make([]error, chains)
	for i := range chains {
		wg.Go(func() {
			_, errs[i] = s.RotateRefreshToken(ctx, shared, "c1", t0.Add(time.Minute+time.Second), time.Minute,
				storetest.Fixed(tokenSet(fmt.Sprintf("shared-%d", i))))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent refresh within grace #%d: %v", i, err)
		}
	}
}

// TestConcurrentDeleteExpired collects from several replicas at once: the
// batches never overlap, so together they remove each due row exactly once.
func TestConcurrentDeleteExpired(t *testing.T) {
	skipWithoutPostgres(t)
	ctx := t.Context()
	url := pgtest.URL(t)
	const due, replicas = 300, 4
	a := openTest(t, url, Options{})
	for i := range due {
		se := store.Session{IDHash: h(fmt.Sprintf("s%d", i)), UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
		if err := a.CreateSession(ctx, se); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	live := store.Session{IDHash: h("live"), UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := a.CreateSession(ctx, live); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	for range replicas {
		s := openTest(t, url, Options{})
		wg.Go(func() {
			for {
				n, err := s.DeleteExpired(ctx, t0.Add(30*time.Minute), 0, 7)
				if err != nil {
					t.Errorf("DeleteExpired: %v", err)
					return
				}
				total.Add(int64(n))
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	// A replica stops at its first empty batch, which may come while
	// another still holds rows: finish what is left.
	for {
		n, err := a.DeleteExpired(ctx, t0.Add(30*time.Minute), 0, 1000)
		if err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		if n == 0 {
			break
		}
		total.Add(int64(n))
	}
	if total.Load() != due {
		t.Errorf("replicas deleted %d rows in all, want %d", total.Load(), due)
	}
	if _, err := a.GetSession(ctx, live.IDHash); err != nil {
		t.Errorf("GetSession(live): %v", err)
	}
}

// TestPollIsLowDurability checks the mechanism PollDeviceGrant relies on: in
// a batch, a transaction-local setting holds for the following statements
// and is gone afterwards.
func TestPollIsLowDurability(t *testing.T) {
	skipWithoutPostgres(t)
	ctx := t.Context()
	s := openTest(t, pgtest.URL(t), Options{MaxConns: 1})
	var during, after string
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	b.Queue(`SHOW synchronous_commit`).QueryRow(func(r pgx.Row) error { return r.Scan(&during) })
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatalf("batch: %v", err)
	}
	if err := s.pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&after); err != nil {
		t.Fatalf("SHOW: %v", err)
	}
	if during != "off" || after == "off" {
		t.Errorf("synchronous_commit during, after the batch = %s, %s; want off, then the default", during, after)
	}
}

// TestRequestMetadataCleaned stores a user agent PostgreSQL text cannot hold
// as is.
func TestRequestMetadataCleaned(t *testing.T) {
	skipWithoutPostgres(t)
	ctx := t.Context()
	s := openTest(t, pgtest.URL(t), Options{})
	g := store.DeviceGrant{
		DeviceCodeHash: h("d"), UserCodeHash: h("u"), ClientID: "c1", Status: store.DevicePending,
		Interval: 5 * time.Second, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute),
		RequestIP: "192.0.2.1", RequestUserAgent: "curl\x00/8\xff",
	}
	if err := s.CreateDeviceGrant(ctx, g); err != nil {
		t.Fatalf("CreateDeviceGrant: %v", err)
	}
	got, err := s.GetDeviceGrantByUserCode(ctx, g.UserCodeHash)
	if err != nil {
		t.Fatalf("GetDeviceGrantByUserCode: %v", err)
	}
	if want := "curl/8\uFFFD"; got.RequestUserAgent != want {
		t.Errorf("RequestUserAgent = %q, want %q", got.RequestUserAgent, want)
	}
}

// TestAlreadyExistsKeepsCause checks that the mapping to the sentinel keeps
// the server's message for the log.
func TestAlreadyExistsKeepsCause(t *testing.T) {
	skipWithoutPostgres(t)
	ctx := t.Context()
	s := openTest(t, pgtest.URL(t), Options{})
	if err := s.CreateUser(ctx, testUser("u1", "alice")); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	err := s.CreateUser(ctx, testUser("u2", "alice"))
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser(duplicate) error = %v, want %v", err, store.ErrAlreadyExists)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "postgres: create user: ") || !strings.Contains(msg, "users_name_key") {
		t.Errorf("CreateUser(duplicate) error = %q, want the operation and the server's cause", msg)
	}
}

// TestConnectionLost checks which failures count as "nothing was done".
func TestConnectionLost(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errors.New("x"), false},
		{context.Canceled, false},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "57014"}, false}, // query_canceled: statement timeout
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}), true},
		{&pgconn.PgError{Severity: "FATAL", Code: "57P05"}, true},
		{&pgconn.PgError{Severity: "ERROR", Code: "57P01"}, false},
		{&pgconn.PgError{Severity: "FATAL", Code: "57P02"}, false}, // crash_shutdown: may follow a commit
	} {
		if got := connectionLost(c.err); got != c.want {
			t.Errorf("connectionLost(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestRotateWhileCollecting rotates tokens of expired families while
// replicas collect those families: lock order (family, then token) keeps
// the two from deadlocking, so every rotation ends in a contract outcome.
func TestRotateWhileCollecting(t *testing.T) {
	skipWithoutPostgres(t)
	ctx := t.Context()
	url := pgtest.URL(t)
	s := openTest(t, url, Options{})
	collector := openTest(t, url, Options{})
	const families = 100
	if err := s.CreateUser(ctx, testUser("u1", "user1")); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	for i := range families {
		name := fmt.Sprintf("f%d", i)
		code := store.AuthCode{CodeHash: h("code-" + name), ClientID: "c1", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
		ts := store.TokenSet{
			Family:  store.TokenFamily{ID: name, ClientID: "c1", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
			Access:  store.AccessToken{Hash: h("access-" + name), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
			Refresh: store.RefreshToken{Hash: h("refresh-" + name), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
		}
		if err := s.CreateAuthCode(ctx, code); err != nil {
			t.Fatalf("CreateAuthCode: %v", err)
		}
		if err := s.ConsumeAuthCode(ctx, code.CodeHash, t0, ts); err != nil {
			t.Fatalf("ConsumeAuthCode: %v", err)
		}
	}
	later := t0.Add(2 * time.Hour) // every family expired
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			n, err := collector.DeleteExpired(ctx, later, 0, 3)
			if err != nil {
				t.Errorf("DeleteExpired: %v", err)
				return
			}
			if n == 0 {
				return
			}
		}
	})
	for i := range families {
		wg.Go(func() {
			name := fmt.Sprintf("f%d", i)
			next := store.TokenSet{
				Access:  store.AccessToken{Hash: h("access-next-" + name), CreatedAt: later},
				Refresh: store.RefreshToken{Hash: h("refresh-next-" + name), CreatedAt: later},
			}
			_, err := s.RotateRefreshToken(ctx, h("refresh-"+name), "c1", later, 0, storetest.Fixed(next))
			if !errors.Is(err, store.ErrExpired) && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("RotateRefreshToken(%s) = %v, want %v or %v", name, err, store.ErrExpired, store.ErrNotFound)
			}
		})
	}
	wg.Wait()
}

// TestGroupedGrantInserts: grants started at once are inserted together,
// and a taken code hash among them fails only its own caller.
func TestGroupedGrantInserts(t *testing.T) {
	skipWithoutPostgres(t)
	ctx := t.Context()
	s := openTest(t, pgtest.URL(t), Options{})
	const n = 48
	grant := func(i int, userCode string) store.DeviceGrant {
		return store.DeviceGrant{DeviceCodeHash: h(fmt.Sprintf("device-%d", i)), UserCodeHash: h(userCode),
			ClientID: "c1", Status: store.DevicePending, Interval: 5 * time.Second,
			CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		userCode := fmt.Sprintf("user-%d", i)
		if i == n-1 {
			userCode = "user-0" // taken by grant 0, or grant 0's is taken by it
		}
		wg.Go(func() { errs[i] = s.CreateDeviceGrant(ctx, grant(i, userCode)) })
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i != 0 && i != n-1 && err != nil:
			t.Errorf("grant %d: %v", i, err)
		case (i == 0 || i == n-1) && err != nil && !errors.Is(err, store.ErrAlreadyExists):
			t.Errorf("grant %d: %v, want nil or %v", i, err, store.ErrAlreadyExists)
		}
	}
	if (errs[0] == nil) == (errs[n-1] == nil) {
		t.Errorf("colliding grants: %v and %v; want exactly one refused", errs[0], errs[n-1])
	}
	var stored int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM device_grants`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != n-1 {
		t.Errorf("%d grants stored, want %d", stored, n-1)
	}
}
