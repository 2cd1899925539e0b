package sqlite

import (
	"cmp"
	"slices"
)

// codeTable maps 32-bit keys to 32-bit values in ~9 bytes an entry. It
// holds the user code index, one entry per live device grant, where a Go
// map took 12–19 bytes (its control bytes and the room it keeps free:
// 15.5 MB at 1.2 million grants). The key's top bits pick a bucket, a
// slice sorted by key, so a lookup (one on every StartDeviceAuthorization,
// to keep user codes unique) is a binary search of a few hundred entries.
// The keys are a seeded hash, so the buckets fill evenly; each grows by an
// eighth, so little room stands empty.
type codeTable struct {
	buckets [][]uint64 // key<<32 | value, sorted
	n       int
}

// codeTableBits is how many of the key's top bits pick its bucket: 4 096
// buckets, ~300 entries each at a million grants.
const codeTableBits = 12

func newCodeTable() codeTable {
	return codeTable{buckets: make([][]uint64, 1<<codeTableBits)}
}

func (c *codeTable) bucket(key uint32) *[]uint64 {
	return &c.buckets[key>>(32-codeTableBits)]
}

// searchKey returns where key is in b, or would go.
func searchKey(b []uint64, key uint32) (int, bool) {
	return slices.BinarySearchFunc(b, key, func(e uint64, key uint32) int { return cmp.Compare(uint32(e>>32), key) })
}

func (c *codeTable) get(key uint32) (uint32, bool) {
	b := *c.bucket(key)
	i, ok := searchKey(b, key)
	if !ok {
		return 0, false
	}
	return uint32(b[i]), true
}

// put stores value under key, replacing what was there.
func (c *codeTable) put(key, value uint32) {
	p := c.bucket(key)
	e := uint64(key)<<32 | uint64(value)
	i, ok := searchKey(*p, key)
	if ok {
		(*p)[i] = e
		return
	}
	if len(*p) == cap(*p) {
		*p = withRoom(*p)
	}
	*p = slices.Insert(*p, i, e)
	c.n++
}

// delete removes key if it holds value, and reports whether it did.
func (c *codeTable) delete(key, value uint32) bool {
	p := c.bucket(key)
	i, ok := searchKey(*p, key)
	if !ok || uint32((*p)[i]) != value {
		return false
	}
	*p = slices.Delete(*p, i, i+1)
	c.n--
	if b := *p; cap(b) > 2*len(b)+8 {
		// Grants expire: give back what a bucket no longer needs.
		*p = nil
		if len(b) > 0 {
			*p = withRoom(b)
		}
	}
	return true
}

// withRoom copies b into a slice with room for an eighth more, and four.
func withRoom(b []uint64) []uint64 {
	return append(make([]uint64, 0, len(b)+len(b)/8+4), b...)
}

func (c *codeTable) len() int { return c.n }
