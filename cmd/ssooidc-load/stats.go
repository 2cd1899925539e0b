package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// recorder is one worker's tally; workers never share one, so recording
// takes no lock.
type recorder struct {
	lat    []time.Duration // successful requests only
	errors map[string]int
}

func newRecorder() *recorder { return &recorder{errors: map[string]int{}} }

func (r *recorder) ok(d time.Duration) { r.lat = append(r.lat, d) }

func (r *recorder) fail(kind string) { r.errors[kind]++ }

// latencyMS are latency percentiles in milliseconds.
type latencyMS struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func summarize(lat []time.Duration) latencyMS {
	if len(lat) == 0 {
		return latencyMS{}
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		i := int(q*float64(len(lat))+0.5) - 1
		i = max(0, min(i, len(lat)-1))
		return ms(lat[i])
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return latencyMS{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(lat[len(lat)-1]), Mean: ms(sum / time.Duration(len(lat)))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// procSample is what /proc tells about a process.
type procSample struct {
	rssKiB, hwmKiB int64
	cpu            time.Duration // user + system
}

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

func readProc(pid int) (procSample, error) {
	var s procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch name {
		case "VmRSS":
			s.rssKiB = n
		case "VmHWM":
			s.hwmKiB = n
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name is in parentheses and may hold spaces: count fields
	// from the last ')'. utime and stime are fields 14 and 15.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	f := strings.Fields(string(rest))
	if len(f) >= 13 {
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		s.cpu = time.Duration(ut+st) * clockTick
	}
	return s, nil
}

// pinnedCPU is the one CPU the process may run on (taskset -c N), or -1.
func pinnedCPU(pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return -1 // a list or a range: not pinned to one
			}
			return n
		}
	}
	return -1
}

// cpuBusy is the time CPU n has been busy (everything but idle and iowait).
func cpuBusy(n int) (time.Duration, bool) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	prefix := fmt.Sprintf("cpu%d ", n)
	for line := range strings.Lines(string(stat)) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			var busy int64
			for i, f := range strings.Fields(rest) {
				v, _ := strconv.ParseInt(f, 10, 64)
				if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is inside user
					busy += v
				}
			}
			return time.Duration(busy) * clockTick, true
		}
	}
	return 0, false
}

// procWatch samples a process every period until stopped, keeping the
// largest resident set seen.
type procWatch struct {
	pid    int
	mu     sync.Mutex
	maxRSS int64
	first  procSample
	// peakReset: the process's peak RSS was started over with the run.
	peakReset bool
	firstAt   time.Time
	stop      context.CancelFunc
	done      chan struct{}
	firstErr  error

	cpu      int           // the CPU the process is pinned to, or -1
	coreBusy time.Duration // that CPU's busy time at the start
}

func watchProc(ctx context.Context, pid int, period time.Duration) *procWatch {
	w := &procWatch{pid: pid, done: make(chan struct{})}
	// Start the peak (VmHWM) over, so that it is this run's and not an
	// earlier one's on the same server (Linux: clear_refs "5"; allowed for
	// a process of the same user).
	w.peakReset = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	w.first, w.firstErr = readProc(pid)
	w.firstAt = time.Now()
	w.cpu = pinnedCPU(pid)
	if w.cpu >= 0 {
		if busy, ok := cpuBusy(w.cpu); ok {
			w.coreBusy = busy
		} else {
			w.cpu = -1
		}
	}
	w.maxRSS = w.first.rssKiB
	ctx, w.stop = context.WithCancel(ctx)
	go func() {
		defer close(w.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if s, err := readProc(pid); err == nil {
				w.mu.Lock()
				w.maxRSS = max(w.maxRSS, s.rssKiB)
				w.mu.Unlock()
			}
		}
	}()
	return w
}

// serverStats is the "server" member of a result.
type serverStats struct {
	PID int `json:"pid"`
	// VmHWM: the peak since the run started, or since the process did
	// when that could not be reset (PeakSinceStart).
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
	PeakSinceStart bool    `json:"peak_since_process_start,omitempty"`
	MaxRSSMiB      float64 `json:"max_rss_mib"` // the largest VmRSS sampled during the run
	CPUPct         float64 `json:"cpu_pct"`     // CPU time used during the run / wall time
	// CPU time per answered request, in microseconds: a figure the
	// neighbours' load on a shared machine moves much less than req/s.
	CPUPerReqUS float64 `json:"cpu_us_per_request,omitempty"`
	// When the server is pinned to one CPU: how much of that CPU other
	// processes used during the run (a shared machine's noise, in sight).
	CPU       int     `json:"cpu"`
	OthersPct float64 `json:"others_on_cpu_pct"`

	cpu time.Duration // used during the run
}

func (w *procWatch) finish() (serverStats, error) {
	w.stop()
	<-w.done
	if w.firstErr != nil {
		return serverStats{}, w.firstErr
	}
	last, err := readProc(w.pid)
	if err != nil {
		return serverStats{}, err
	}
	wall := time.Since(w.firstAt)
	others := -1.0
	if w.cpu >= 0 {
		if busy, ok := cpuBusy(w.cpu); ok {
			others = max(0, 100*float64(busy-w.coreBusy-(last.cpu-w.first.cpu))/float64(wall))
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return serverStats{
		CPU:            w.cpu,
		OthersPct:      others,
		PID:            w.pid,
		PeakRSSMiB:     float64(last.hwmKiB) / 1024,
		PeakSinceStart: !w.peakReset,
		MaxRSSMiB:      float64(max(w.maxRSS, last.rssKiB)) / 1024,
		CPUPct:         100 * float64(last.cpu-w.first.cpu) / float64(wall),
		cpu:            last.cpu - w.first.cpu,
	}, nil
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pauseThreshold is how late a wake-up must be to count as the generator
// held up.
const pauseThreshold = 5 * time.Millisecond

// generatorPauses is the "generator_pauses" member of a result.
type generatorPauses struct {
	Over5ms int     `json:"over_5ms"` // wake-ups more than pauseThreshold late
	MaxMS   float64 `json:"max_ms"`   // the latest
}

// watchPauses measures, until stop is called, how late this process wakes
// from 1 ms sleeps. A generator held up itself (its core busy with other
// work, the VM descheduled) reads the answers late, and that delay counts
// as the server's latency; a run whose p99 stalls while the generator was
// held up as long says more about the machine than about the server.
func watchPauses(ctx context.Context) (stop func() generatorPauses) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan generatorPauses, 1)
	go func() {
		var p generatorPauses
		var longest time.Duration
		prev := time.Now()
		for ctx.Err() == nil {
			time.Sleep(time.Millisecond)
			now := time.Now()
			if late := now.Sub(prev) - time.Millisecond; late > pauseThreshold {
				p.Over5ms++
				longest = max(longest, late)
			}
			prev = now
		}
		p.MaxMS = float64(longest.Microseconds()) / 1000
		done <- p
	}()
	return func() generatorPauses {
		cancel()
		return <-done
	}
}
