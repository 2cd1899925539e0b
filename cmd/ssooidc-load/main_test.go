package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/server/servertest"
)

// quick are options for short runs against a test server.
func quick(url, scenario string) options {
	o := options{
		url:         url,
		scenario:    scenario,
		concurrency: 4,
		duration:    400 * time.Millisecond,
		warmup:      100 * time.Millisecond,
		grants:      200,
		guard:       0.25,
		user:        "alice",
		password:    "correct horse battery",
		startURL:    "https://d-0000000000.awsapps.com/start",
		timeout:     10 * time.Second,
	}
	if err := o.check(); err != nil {
		panic(err)
	}
	return o
}

func logTo(t *testing.T) func(string, ...any) {
	return func(format string, args ...any) { t.Logf(format, args...) }
}

// startServer runs a whole ssooidc on a loopback port whose clock follows
// real time, as the pending scenario's pacing assumes.
func startServer(t *testing.T) *servertest.Server {
	// All load comes from one address: the per-address and per-client
	// flood limits (docs/security.md) are off, as for any load test.
	srv := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.LimitRegisterPerIP = 0
		c.LimitDeviceStartPerIP = 0
		c.MaxLiveDeviceGrantsPerClient = 0
	}))
	srv.AddUser(t, "alice", "correct horse battery")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		last := time.Now()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				srv.Clock.Advance(now.Sub(last))
				last = now
			}
		}
	}()
	return srv
}

func TestScenarios(t *testing.T) {
	srv := startServer(t)
	for _, scenario := range []string{"start", "pending", "refresh"} {
		t.Run(scenario, func(t *testing.T) {
			o := quick(srv.URL, scenario)
			o.pid = os.Getpid()
			if scenario == "pending" {
				// Each grant may be polled twice at once, then not for an
				// interval (1 s): a fast server would use up all the
				// grants' polls within a warm-up.
				o.warmup = 0
			}
			res, err := run(t.Context(), o, logTo(t))
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if len(res.Errors) != 0 {
				t.Errorf("errors: %v", res.Errors)
			}
			if res.OK == 0 || res.RPS <= 0 || res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 {
				t.Errorf("implausible result: %+v", res)
			}
			if res.Server == nil || res.Server.PeakRSSMiB <= 0 {
				t.Errorf("no server figures from /proc: %+v", res.Server)
			}
			if scenario == "pending" && res.Grants != o.grants {
				t.Errorf("pending: %d grants, want %d", res.Grants, o.grants)
			}
		})
	}
}

// TestPendingAtRate runs the open-loop mode: the rate is kept and each
// grant's interval respected, so nothing is answered slow_down.
func TestPendingAtRate(t *testing.T) {
	srv := startServer(t)
	o := quick(srv.URL, "pending")
	o.rate = 200
	o.duration = time.Second
	res, err := run(t.Context(), o, logTo(t))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors: %v", res.Errors)
	}
	if res.RPS < 150 || res.RPS > 250 {
		t.Errorf("open loop at 200/s measured %.0f/s", res.RPS)
	}
}

// TestTooFewGrants shows the tool holding polls back rather than earning
// slow_down answers, and saying so.
func TestTooFewGrants(t *testing.T) {
	srv := startServer(t)
	o := quick(srv.URL, "pending")
	o.grants = 4
	res, err := run(t.Context(), o, logTo(t))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors: %v", res.Errors)
	}
	if res.GrantWaits == 0 {
		t.Errorf("no grant waits with 4 grants and 4 workers")
	}
	var out bytes.Buffer
	res.print(&out)
	if !strings.Contains(out.String(), "raise -grants") {
		t.Errorf("the report does not say the grants limited the rate:\n%s", out.String())
	}
}

func TestBareAndJSON(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serveBareOn(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bare server: %v", err)
		}
	}()
	var stdout, stderr bytes.Buffer
	err = mainErr(t.Context(), []string{"-url", "http://" + ln.Addr().String(), "-scenario", "bare",
		"-c", "2", "-n", "500", "-warmup", "0", "-baseline", "1000", "-json", "-spin"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("mainErr: %v\n%s", err, stderr.String())
	}
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if res.OK != 500 || res.Requests != 500 || len(res.Errors) != 0 {
		t.Errorf("ok, requests, errors = %d, %d, %v; want 500, 500, none", res.OK, res.Requests, res.Errors)
	}
	if res.Ratio <= 0 || res.Baseline != 1000 {
		t.Errorf("ratio %v to baseline %v", res.Ratio, res.Baseline)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-scenario", "nope"},
		{"-url", "https://127.0.0.1:1"},
		{"-c", "0"},
		{"-duration", "0"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		if err := mainErr(t.Context(), args, &stdout, &stderr); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestConnChunked(t *testing.T) {
	for _, spin := range []bool{false, true} {
		t.Run(fmt.Sprintf("spin=%v", spin), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				// In two writes, so that a spinning reader finds the socket
				// empty in between.
				c.Write([]byte("HTTP/1.1 400 Bad Request\r\nX-Amzn-ErrorType: AuthorizationPendingException\r\n"))
				time.Sleep(20 * time.Millisecond)
				c.Write([]byte("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"))
			}()
			c := newConn(ln.Addr().String(), ln.Addr().String(), 5*time.Second, spin)
			defer c.close()
			r, err := c.post("/token", []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if r.status != 400 || r.errType != "AuthorizationPendingException" || string(r.body) != "hello world" {
				t.Errorf("got %d %q %q", r.status, r.errType, r.body)
			}
			if c.c != nil {
				t.Errorf("connection kept after Connection: close")
			}
		})
	}
}

// A spinning read still gives up at the request timeout.
func TestSpinTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c := newConn(ln.Addr().String(), ln.Addr().String(), 100*time.Millisecond, true)
	defer c.close()
	_, err = c.post("/token", []byte(`{}`)) // the server never answers
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("err = %v; want a deadline error", err)
	}
	if c.c != nil {
		t.Errorf("connection kept after a timeout")
	}
	(<-accepted).Close()
}

// TestWatchPauses holds the only P for 60 ms: the watcher's 1 ms sleep
// cannot end until the runtime preempts the loop (after ~10 ms), so it
// sees itself held up.
func TestWatchPauses(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stop := watchPauses(t.Context())
	time.Sleep(5 * time.Millisecond) // the watcher's first sleep has begun
	for start := time.Now(); time.Since(start) < 60*time.Millisecond; {
	}
	p := stop()
	if p.Over5ms < 1 || p.MaxMS < 5 {
		t.Errorf("pauses after holding the P for 60 ms: %+v; want one over 5 ms at least", p)
	}
}
