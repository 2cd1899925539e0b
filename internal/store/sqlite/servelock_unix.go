//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// LockServing claims the database for this process as its server, or fails
// when another process serves it. The server keeps state of the database's
// in memory (poll times, the rows of pending grants: polls.go) that a
// second server on the same file would contradict. The claim is an flock
// on a file beside the database — not on the database itself, whose POSIX
// locks SQLite would lose when another descriptor of it is closed — and
// ends when the store closes or the process exits. The administration
// commands do not claim it and run beside the server.
func (s *Store) LockServing() error {
	path := s.path + "-serve.lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: claim %s: %w", s.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("sqlite: %s is already served by another ssooidc process; a SQLite database is served by one process (use PostgreSQL for several replicas)", s.path)
		}
		return fmt.Errorf("sqlite: claim %s: %w", s.path, err)
	}
	s.serveLock = f
	return nil
}
