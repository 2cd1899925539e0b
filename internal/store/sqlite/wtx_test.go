package sqlite

import (
	"bytes"
	"database/sql/driver"
	"testing"
	"time"
)

// TestAssign: the committer's scans store what database/sql's would, copy
// blobs, and refuse what they cannot hold.
func TestAssign(t *testing.T) {
	var (
		s  string
		b  []byte
		ok bool
		n  int64
		tm time.Time
	)
	blob := []byte("blob")
	for _, c := range []struct {
		dest  any
		v     driver.Value
		check func() bool
	}{
		{&s, "text", func() bool { return s == "text" }},
		{&s, []byte("bytes"), func() bool { return s == "bytes" }},
		{&b, blob, func() bool { return bytes.Equal(b, blob) && &b[0] != &blob[0] }},
		{&b, nil, func() bool { return b == nil }},
		{&ok, int64(1), func() bool { return ok }},
		{&ok, int64(0), func() bool { return !ok }},
		{&n, int64(42), func() bool { return n == 42 }},
		{timeCol{&tm}, int64(1_700_000_000_000_000), func() bool { return tm.Equal(time.UnixMicro(1_700_000_000_000_000)) }},
	} {
		if err := assign(c.dest, c.v); err != nil || !c.check() {
			t.Errorf("assign(%T, %#v): err %v, stored wrong", c.dest, c.v, err)
		}
	}
	for _, c := range []struct {
		dest any
		v    driver.Value
	}{{&s, nil}, {&ok, "1"}, {&n, 1.5}, {new(float64), 1.5}} {
		if err := assign(c.dest, c.v); err == nil {
			t.Errorf("assign(%T, %#v): no error", c.dest, c.v)
		}
	}
}
