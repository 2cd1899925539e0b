package sqlite

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestCodeTableAsMap runs random puts, gets and deletes on a codeTable and
// on a map side by side: every answer and the count must agree. Keys come
// from a small range too, so that buckets fill, empty and shrink.
func TestCodeTableAsMap(t *testing.T) {
	for _, keys := range []struct {
		name string
		key  func(r *rand.Rand) uint32
	}{
		{"spread", func(r *rand.Rand) uint32 { return r.Uint32() }},
		{"one bucket", func(r *rand.Rand) uint32 { return 0xabc00000 | r.Uint32N(5000) }},
		{"edges", func(r *rand.Rand) uint32 {
			return []uint32{0, 1, 0xffffffff, 0xfffffffe, 0x80000000, 0x7fffffff}[r.IntN(6)]
		}},
	} {
		t.Run(keys.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			c := newCodeTable()
			m := map[uint32]uint32{}
			var added []uint32
			for step := range 200_000 {
				k := keys.key(r)
				switch op := r.IntN(10); {
				case op < 5:
					v := r.Uint32()
					c.put(k, v)
					m[k] = v
					added = append(added, k)
				case op < 8 && len(added) > 0:
					// A delete of a key once added, with its value or another.
					k = added[r.IntN(len(added))]
					v, ok := m[k]
					if r.IntN(4) == 0 {
						v++
						ok = false
					}
					if got := c.delete(k, v); got != ok {
						t.Fatalf("step %d: delete(%#x, %d) = %v, want %v", step, k, v, got, ok)
					}
					if ok {
						delete(m, k)
					}
				default:
					v, ok := c.get(k)
					want, wantOK := m[k]
					if v != want || ok != wantOK {
						t.Fatalf("step %d: get(%#x) = %d, %v; want %d, %v", step, k, v, ok, want, wantOK)
					}
				}
				if c.len() != len(m) {
					t.Fatalf("step %d: len %d, want %d", step, c.len(), len(m))
				}
			}
			for k, want := range m {
				if v, ok := c.get(k); !ok || v != want {
					t.Fatalf("get(%#x) = %d, %v; want %d", k, v, ok, want)
				}
			}
			for k, v := range m {
				if !c.delete(k, v) {
					t.Fatalf("delete(%#x, %d) = false", k, v)
				}
			}
			for i, b := range c.buckets {
				if cap(b) > 8 {
					t.Fatalf("bucket %d keeps room for %d entries once empty", i, cap(b))
				}
			}
		})
	}
}

// BenchmarkCodeTable measures a lookup among a million entries, as every
// StartDeviceAuthorization makes one, and the memory an entry takes, in the
// table and in the map it replaced.
func BenchmarkCodeTable(b *testing.B) {
	const n = 1_000_000
	r := rand.New(rand.NewPCG(3, 4))
	keys := make([]uint32, n)
	for i := range keys {
		keys[i] = r.Uint32()
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	b.Run("table", func(b *testing.B) {
		before := heap()
		c := newCodeTable()
		for i, k := range keys {
			c.put(k, uint32(i))
		}
		perEntry := float64(heap()-before) / n
		b.ResetTimer()
		for i := range b.N {
			c.get(keys[i%n] ^ uint32(i&1)) // half found, half not
		}
		b.ReportMetric(perEntry, "B/entry")
	})
	b.Run("map", func(b *testing.B) {
		before := heap()
		m := map[uint32]uint32{}
		for i, k := range keys {
			m[k] = uint32(i)
		}
		perEntry := float64(heap()-before) / n
		b.ResetTimer()
		for i := range b.N {
			_ = m[keys[i%n]^uint32(i&1)]
		}
		b.ReportMetric(perEntry, "B/entry")
	})
}
