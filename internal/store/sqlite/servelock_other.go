//go:build !unix

package sqlite

// LockServing does nothing where flock is not available.
func (s *Store) LockServing() error { return nil }
