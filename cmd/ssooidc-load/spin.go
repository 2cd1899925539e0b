package main

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"
)

// spinReader reads a TCP connection without ever parking in the Go
// netpoller: it retries the non-blocking read(2), yielding to the other
// clients between tries, until data, an error or the deadline.
//
// Why: when every client of the generator waits in epoll, its CPU goes
// idle, and the server's write of an answer must wake it. On a virtual
// machine that wake-up is an inter-processor interrupt, and its cost lands
// on the writer — the server. Measured on the project's 2-vCPU machine
// (docs/performance.md), it added ~40–60 µs of server CPU to every answer
// of a scenario that leaves the generator idle between answers, and next to
// nothing to the bare handler, whose answers come fast enough to keep the
// generator busy; so it distorted exactly the ratios being measured. A
// spinning generator keeps its own core busy (it never touches the
// server's) and the server pays only for its own work, as it would for
// clients on other machines.
type spinReader struct {
	rc       syscall.RawConn
	deadline time.Time // zero: none
}

var errSpinTimeout = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

func newSpinReader(nc net.Conn) (*spinReader, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, errors.New("spin: not a TCP connection")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &spinReader{rc: rc}, nil
}

func (s *spinReader) Read(p []byte) (int, error) {
	for try := 0; ; try++ {
		var n int
		var err error
		// Returning true from the callback means "done": RawConn.Read never
		// waits for readiness.
		if cerr := s.rc.Read(func(fd uintptr) bool {
			n, err = syscall.Read(int(fd), p)
			return true
		}); cerr != nil {
			return 0, cerr
		}
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		default:
			return n, nil
		}
		if try%1024 == 1023 && !s.deadline.IsZero() && time.Now().After(s.deadline) {
			return 0, errSpinTimeout
		}
		runtime.Gosched()
	}
}
