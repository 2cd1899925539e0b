package portal

import (
	"sync"
	"time"
)

// limiter is a token bucket per sign-in session (token family): each holds
// up to perMinute requests and refills at perMinute a minute, so a burst of
// a minute's worth passes and a steady caller gets perMinute a minute. It
// lives in memory, so each replica counts on its own. At most maxBuckets
// sessions are tracked; when full, sessions whose bucket has refilled are
// forgotten first (they lose nothing), then arbitrary ones.
type limiter struct {
	perMinute  int
	maxBuckets int

	mu      sync.Mutex
	buckets map[string]bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

const defaultMaxBuckets = 100_000

func newLimiter(perMinute int) *limiter {
	return &limiter{perMinute: perMinute, maxBuckets: defaultMaxBuckets, buckets: map[string]bucket{}}
}

// allow takes one token from key's bucket at now. When none is left it
// returns false and how long until one is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.perMinute <= 0 {
		return true, 0
	}
	capacity := float64(l.perMinute)
	perSecond := capacity / 60
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxBuckets {
			l.evict(now, capacity, perSecond)
		}
		b = bucket{tokens: capacity, at: now}
	}
	b = refill(b, now, capacity, perSecond)
	if b.tokens < 1 {
		l.buckets[key] = b
		return false, time.Duration((1 - b.tokens) / perSecond * float64(time.Second))
	}
	b.tokens--
	l.buckets[key] = b
	return true, 0
}

func refill(b bucket, now time.Time, capacity, perSecond float64) bucket {
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(capacity, b.tokens+elapsed.Seconds()*perSecond)
		b.at = now
	}
	return b
}

// evict makes room: full buckets first, then anything.
func (l *limiter) evict(now time.Time, capacity, perSecond float64) {
	for k, b := range l.buckets {
		if refill(b, now, capacity, perSecond).tokens >= capacity {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.maxBuckets {
			break
		}
		delete(l.buckets, k)
	}
}
