package portal

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	l := newLimiter(60) // one a second, bursts of 60
	for i := range 60 {
		if ok, _ := l.allow("a", t0); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("a", t0)
	if ok || wait != time.Second {
		t.Errorf("61st request: allowed %v, wait %v; want refused, 1s", ok, wait)
	}
	if ok, _ := l.allow("b", t0); !ok {
		t.Error("another session was held back")
	}
	if ok, _ := l.allow("a", t0.Add(time.Second)); !ok {
		t.Error("refused after refilling one")
	}
	// Refills never exceed the burst.
	if _, _ = l.allow("a", t0.Add(time.Hour)); l.buckets["a"].tokens != 59 {
		t.Errorf("tokens after an hour and one request = %v, want 59", l.buckets["a"].tokens)
	}

	var off *limiter
	if ok, _ := off.allow("a", t0); !ok {
		t.Error("a nil limiter refused")
	}
	if ok, _ := newLimiter(0).allow("a", t0); !ok {
		t.Error("limit 0 refused")
	}
}

func TestLimiterBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	l := newLimiter(10)
	l.maxBuckets = 100
	// Busy sessions (one token used) fill the map.
	for i := range 100 {
		l.allow(fmt.Sprint("busy", i), t0)
	}
	// Later they have refilled and are forgotten first.
	for i := range 50 {
		l.allow(fmt.Sprint("new", i), t0.Add(time.Minute))
	}
	if n := len(l.buckets); n > 100 {
		t.Errorf("%d buckets, want at most 100", n)
	}
	if _, ok := l.buckets["new49"]; !ok {
		t.Error("the newest session is not tracked")
	}
	// When nothing has refilled, arbitrary ones go.
	for i := range 300 {
		l.allow(fmt.Sprint("burst", i), t0.Add(time.Minute))
	}
	if n := len(l.buckets); n > 100 {
		t.Errorf("%d buckets, want at most 100", n)
	}
}
