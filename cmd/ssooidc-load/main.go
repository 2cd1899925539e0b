// Command ssooidc-load drives the hot paths of an AWS SSO OIDC service —
// ssooidc, or anything speaking the same dialect — and reports throughput,
// latency percentiles, errors by kind and the server's peak memory.
//
// Scenarios (-scenario):
//
//	start    StartDeviceAuthorization with one registered client
//	pending  CreateToken polls on pending device codes: the expected answer
//	         is AuthorizationPendingException; each worker polls its own
//	         grants round-robin, never faster than the grant's interval
//	refresh  CreateToken with the refresh_token grant: each worker follows
//	         its own rotation chain (grants approved in setup through the
//	         real sign-in and consent pages, as -user with -password)
//	bare     POST to a bare handler: the baseline the others are compared with
//
// By default the load is closed-loop (-c workers, each sending its next
// request when the last answer arrives) for -duration after -warmup. With
// -rate it is open-loop: each worker sends on a fixed schedule (rate/c per
// second), and a request sent late because the previous answer came late
// has its latency measured from when it was due, so a stalled server shows
// up in the percentiles instead of silently slowing the generator.
//
// -bare-listen ADDR serves the baseline instead: a plain net/http handler
// that reads the body and answers a small JSON 200.
//
// Everything the load needs is created through the public API first;
// nothing is read from the server's database.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"
)

type options struct {
	url         string
	addr, host  string // from url
	scenario    string
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	n           int64
	rate        float64
	pid         int
	grants      int
	guard       float64
	user        string
	password    string
	startURL    string
	timeout     time.Duration
	baseline    float64
	jsonOut     bool
	spin        bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ssooidc-load:", err)
		os.Exit(1)
	}
}

func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	var bareListen string
	fs := flag.NewFlagSet("ssooidc-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "base URL of the server under load (http only)")
	fs.StringVar(&o.scenario, "scenario", "pending", "start, pending, refresh or bare")
	fs.IntVar(&o.concurrency, "c", 16, "concurrent clients (connections)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time, after the warm-up (0: until -n requests)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load before measuring starts")
	fs.Int64Var(&o.n, "n", 0, "stop after this many measured requests (0: no limit)")
	fs.Float64Var(&o.rate, "rate", 0, "open-loop: requests per second in total (0: closed loop)")
	fs.IntVar(&o.pid, "pid", 0, "server process id: report its peak RSS during the run and its CPU use, from /proc")
	fs.IntVar(&o.grants, "grants", 8000, "pending: live grants to create and poll")
	fs.Float64Var(&o.guard, "guard", 0.25, "pending: extra spacing between a grant's polls, as a fraction of its interval")
	fs.StringVar(&o.user, "user", "demo", "refresh: user who approves the grants")
	fs.StringVar(&o.password, "password", os.Getenv("SSOOIDC_LOAD_PASSWORD"), "refresh: that user's password (default $SSOOIDC_LOAD_PASSWORD)")
	fs.StringVar(&o.startURL, "start-url", "https://d-0000000000.awsapps.com/start", "startUrl sent with StartDeviceAuthorization")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.Float64Var(&o.baseline, "baseline", 0, "the bare handler's req/s from the same session: print the ratio to it")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	fs.BoolVar(&o.spin, "spin", false, "wait for answers by spinning on non-blocking reads instead of sleeping in epoll: keeps this process's CPU from going idle, so the server never pays for waking it (see docs/performance.md)")
	fs.StringVar(&bareListen, "bare-listen", "", "serve the bare baseline handler on this address instead of generating load")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if bareListen != "" {
		return serveBare(ctx, bareListen, stdout)
	}
	if err := o.check(); err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	res, err := run(ctx, o, logf)
	if err != nil {
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	res.print(stdout)
	return nil
}

func (o *options) check() error {
	u, err := url.Parse(o.url)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("-url %q: want http://host:port", o.url)
	}
	o.host = u.Host
	o.addr = u.Host
	if u.Port() == "" {
		o.addr = net.JoinHostPort(u.Hostname(), "80")
	}
	o.url = strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/")
	switch o.scenario {
	case "start", "pending", "refresh", "bare":
	default:
		return fmt.Errorf("-scenario %q: want start, pending, refresh or bare", o.scenario)
	}
	switch {
	case o.concurrency < 1:
		return errors.New("-c must be at least 1")
	case o.duration <= 0 && o.n <= 0:
		return errors.New("give a positive -duration or -n")
	case o.rate < 0 || o.guard < 0 || o.warmup < 0 || o.n < 0:
		return errors.New("-rate, -guard, -warmup and -n must not be negative")
	}
	return nil
}

// result is one run's report.
type result struct {
	Scenario    string          `json:"scenario"`
	URL         string          `json:"url"`
	Concurrency int             `json:"concurrency"`
	Rate        float64         `json:"rate,omitempty"` // target, open loop
	Seconds     float64         `json:"seconds"`        // the measured window
	Requests    int             `json:"requests"`       // answered in the window
	OK          int             `json:"ok"`             // with the scenario's expected answer
	RPS         float64         `json:"rps"`            // OK per second
	Baseline    float64         `json:"baseline_rps,omitempty"`
	Ratio       float64         `json:"ratio_to_baseline,omitempty"`
	Latency     latencyMS       `json:"latency_ms"` // of the OK answers
	Errors      map[string]int  `json:"errors"`
	GrantWaits  int             `json:"grant_waits,omitempty"` // pending: polls held back to respect a grant's interval
	Grants      int             `json:"grants,omitempty"`
	LoadCPUPct  float64         `json:"load_cpu_pct"` // this generator's CPU use over the window
	Pauses      generatorPauses `json:"generator_pauses"`
	Server      *serverStats    `json:"server,omitempty"`
}

func (r *result) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tconc\trate\trequests\terrors\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tsrv cpu\tpeak rss\t")
	rate, cpu, rss := "closed", "-", "-"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%.0f/s", r.Rate)
	}
	if r.Server != nil {
		cpu = fmt.Sprintf("%.0f%%", r.Server.CPUPct)
		rss = fmt.Sprintf("%.1f MiB", r.Server.PeakRSSMiB)
		if r.Server.PeakSinceStart {
			rss += " (since process start)"
		}
	}
	errs := 0
	for _, n := range r.Errors {
		errs += n
	}
	fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t\n",
		r.Scenario, r.Concurrency, rate, r.Requests, errs, r.RPS,
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, cpu, rss)
	tw.Flush()
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(w, "  error %-50s %d\n", k, r.Errors[k])
	}
	if r.Ratio > 0 {
		fmt.Fprintf(w, "  ratio to the bare handler (%.0f req/s): %.1f %%\n", r.Baseline, 100*r.Ratio)
	}
	if r.GrantWaits > 0 {
		fmt.Fprintf(w, "  note: %d polls waited for a grant's interval: the grant pool (%d) limited the rate; raise -grants\n", r.GrantWaits, r.Grants)
	}
	if r.Server != nil && r.Server.CPUPerReqUS > 0 {
		fmt.Fprintf(w, "  server CPU per request: %.1f µs\n", r.Server.CPUPerReqUS)
	}
	if r.Server != nil && r.Server.CPU >= 0 && r.Server.OthersPct >= 0 {
		fmt.Fprintf(w, "  other processes used %.0f %% of the server's CPU %d meanwhile\n", r.Server.OthersPct, r.Server.CPU)
	}
	fmt.Fprintf(w, "  load generator CPU: %.0f %% of one core\n", r.LoadCPUPct)
	if r.Pauses.Over5ms > 0 {
		fmt.Fprintf(w, "  the generator itself was held up %d times over %v, the longest %.1f ms: latencies include that\n",
			r.Pauses.Over5ms, pauseThreshold, r.Pauses.MaxMS)
	}
}

// run prepares the scenario, then loads the server.
func run(ctx context.Context, o options, logf func(string, ...any)) (*result, error) {
	setupCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	ws, err := prepare(setupCtx, o, logf)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	recs := make([]*recorder, len(ws))
	waits := make([]int, len(ws))
	var measured atomic.Int64 // requests started in the measured window
	start := time.Now()
	measureFrom := start.Add(o.warmup)
	var end time.Time
	if o.duration > 0 {
		end = measureFrom.Add(o.duration)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	if !end.IsZero() {
		runCtx, stopRun = context.WithDeadline(runCtx, end)
		defer stopRun()
	}
	// take claims one measured request; false when -n is reached.
	take := func(at time.Time) bool {
		if at.Before(measureFrom) || o.n == 0 {
			return true
		}
		if measured.Add(1) > o.n {
			stopRun()
			return false
		}
		return true
	}

	// Open loop: each worker sends at rate/c per second on a fixed
	// schedule, offset from the others so that the whole load is even.
	var period time.Duration
	if o.rate > 0 {
		period = time.Duration(float64(time.Second) * float64(len(ws)) / o.rate)
	}

	var wg sync.WaitGroup
	var lastDone atomic.Int64
	for i, w := range ws {
		recs[i] = newRecorder()
		wg.Go(func() {
			rec := recs[i]
			c := newConn(o.addr, o.host, o.timeout, o.spin)
			defer c.close()
			due := start.Add(period * time.Duration(i) / time.Duration(len(ws)))
			var prevDone time.Time
			for runCtx.Err() == nil && !w.dead() {
				if period > 0 {
					if !sleepUntil(runCtx, due) {
						return
					}
				}
				if w.wait(runCtx) {
					waits[i]++
				}
				sent := time.Now()
				// A worker that is behind its schedule because the server
				// answered late counts the latency from when the request was
				// due, so that a stall shows in the percentiles instead of
				// slowing the load down (coordinated omission). One that was
				// idle counts from the send: oversleeping is ours, not the
				// server's.
				from := sent
				if period > 0 && prevDone.After(due) {
					from = due
				}
				due = due.Add(period)
				if runCtx.Err() != nil || !take(sent) {
					return
				}
				kind := w.do(c)
				done := time.Now()
				prevDone = done
				if sent.Before(measureFrom) || (!end.IsZero() && done.After(end)) {
					continue
				}
				for d := done.UnixNano(); ; {
					prev := lastDone.Load()
					if d <= prev || lastDone.CompareAndSwap(prev, d) {
						break
					}
				}
				if kind == "" {
					rec.ok(done.Sub(from))
				} else {
					rec.fail(kind)
				}
			}
		})
	}

	// Watch the server and ourselves over the measured window only.
	select {
	case <-time.After(time.Until(measureFrom)):
	case <-runCtx.Done():
	}
	cpu0, wall0 := selfCPU(), time.Now()
	var watch *procWatch
	if o.pid > 0 {
		watch = watchProc(ctx, o.pid, 100*time.Millisecond)
	}
	stopPauses := watchPauses(ctx)
	wg.Wait()
	cpu1, wall1 := selfCPU(), time.Now()
	pauses := stopPauses()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	res := &result{
		Scenario:    o.scenario,
		URL:         o.url,
		Concurrency: o.concurrency,
		Rate:        o.rate,
		Errors:      map[string]int{},
		LoadCPUPct:  100 * float64(cpu1-cpu0) / float64(wall1.Sub(wall0)),
		Pauses:      pauses,
	}
	var all []time.Duration
	for i, r := range recs {
		all = append(all, r.lat...)
		for k, n := range r.errors {
			res.Errors[k] += n
		}
		res.GrantWaits += waits[i]
		if p, ok := ws[i].(*pendingWorker); ok {
			res.Grants += len(p.grants)
		}
	}
	res.OK = len(all)
	res.Requests = res.OK
	for _, n := range res.Errors {
		res.Requests += n
	}
	window := o.duration
	if end.IsZero() || o.n > 0 && measured.Load() >= o.n {
		window = time.Duration(lastDone.Load() - measureFrom.UnixNano())
	}
	res.Seconds = window.Seconds()
	if window > 0 {
		res.RPS = float64(res.OK) / window.Seconds()
	}
	res.Latency = summarize(all)
	if o.baseline > 0 {
		res.Baseline = o.baseline
		res.Ratio = res.RPS / o.baseline
	}
	if watch != nil {
		s, err := watch.finish()
		if err != nil {
			logf("warning: reading /proc for pid %d: %v", o.pid, err)
		} else {
			if n := res.Requests; n > 0 {
				s.CPUPerReqUS = float64(s.cpu.Microseconds()) / float64(n)
			}
			res.Server = &s
		}
	}
	return res, nil
}

// sleepUntil waits until t or until ctx ends (false).
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// serveBare is the baseline server: net/http with a handler that reads the
// request body and answers a small JSON 200, and nothing else.
func serveBare(ctx context.Context, addr string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bare handler listening on http://%s\n", ln.Addr())
	return serveBareOn(ctx, ln)
}

func serveBareOn(ctx context.Context, ln net.Listener) error {
	answer := []byte(`{"ok":true}`)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Write(answer)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
