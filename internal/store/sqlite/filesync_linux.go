//go:build linux && (amd64 || arm64)

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fileSyncer syncs files through Linux AIO (IOCB_CMD_FDSYNC: fdatasync, as
// SQLite's Linux builds sync; kernel 4.18 and later), waiting for the
// completion on an eventfd that the network poller watches. A plain sync
// is a blocking system call: the goroutine keeps its P until the runtime's
// monitor takes it back, up to ~20 ms later, so on a server limited to one
// P a long checkpoint sync stalls every request. Here the P stays free
// while the disk works.
type fileSyncer struct {
	mu   sync.Mutex // one fsync in flight: the context has room for one
	aio  uintptr    // aio_context_t
	done *os.File   // the eventfd, non-blocking, so in the poller
}

// iocb and ioEvent are the kernel's struct iocb and struct io_event on a
// little-endian machine; the fields this file leaves zero or never reads
// are blank.
type iocb struct {
	_      uint64 // aio_data
	_      uint32 // aio_key
	_      int32  // aio_rw_flags
	opcode uint16
	_      int16 // aio_reqprio
	fildes uint32
	_      [4]uint64 // aio_buf, aio_nbytes, aio_offset, aio_reserved2
	flags  uint32
	resfd  uint32
}

type ioEvent struct {
	_   [2]uint64 // data, obj
	res int64
	_   int64 // res2
}

const (
	iocbCmdFdsync = 3
	iocbFlagResfd = 1 << 0
)

// newFileSyncer returns a syncer, or an error where this kernel cannot
// fsync asynchronously (the caller then lets SQLite sync as usual). probe
// is synced once to find out: io_submit accepts IOCB_CMD_FDSYNC only since
// Linux 4.18, and only on file systems that support it.
func newFileSyncer(probe *os.File) (*fileSyncer, error) {
	var aio uintptr
	if _, _, errno := unix.Syscall(unix.SYS_IO_SETUP, 1, uintptr(unsafe.Pointer(&aio)), 0); errno != 0 {
		return nil, fmt.Errorf("io_setup: %w", errno)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Syscall(unix.SYS_IO_DESTROY, aio, 0, 0)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	y := &fileSyncer{aio: aio, done: os.NewFile(uintptr(efd), "fsync-done")}
	if err := y.sync(probe); err != nil {
		y.close()
		return nil, err
	}
	return y, nil
}

// sync writes f's data and size to disk, as fdatasync(2) would.
func (y *fileSyncer) sync(f *os.File) error {
	y.mu.Lock()
	defer y.mu.Unlock()
	raw, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	var submitErr error
	// The kernel takes its own reference to the file at submission, so f
	// may be closed before the fsync completes.
	if err := raw.Control(func(fd uintptr) {
		cb := &iocb{opcode: iocbCmdFdsync, fildes: uint32(fd), flags: iocbFlagResfd, resfd: uint32(y.done.Fd())}
		for {
			_, _, errno := unix.Syscall(unix.SYS_IO_SUBMIT, y.aio, 1, uintptr(unsafe.Pointer(&cb)))
			if errno != unix.EINTR {
				if errno != 0 {
					submitErr = errno
				}
				return
			}
		}
	}); err != nil {
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	if submitErr != nil {
		return fmt.Errorf("fsync %s: io_submit: %w", f.Name(), submitErr)
	}
	// The eventfd counts completions; this parks the goroutine, not the P.
	var count [8]byte
	if _, err := y.done.Read(count[:]); err != nil {
		return fmt.Errorf("fsync %s: wait: %w", f.Name(), err)
	}
	var ev ioEvent
	n, _, errno := unix.Syscall6(unix.SYS_IO_GETEVENTS, y.aio, 1, 1, uintptr(unsafe.Pointer(&ev)), 0, 0)
	for errno == unix.EINTR {
		n, _, errno = unix.Syscall6(unix.SYS_IO_GETEVENTS, y.aio, 1, 1, uintptr(unsafe.Pointer(&ev)), 0, 0)
	}
	switch {
	case errno != 0:
		return fmt.Errorf("fsync %s: io_getevents: %w", f.Name(), errno)
	case n != 1:
		return fmt.Errorf("fsync %s: io_getevents: no completion", f.Name())
	case ev.res < 0:
		return &os.PathError{Op: "fsync", Path: f.Name(), Err: unix.Errno(-ev.res)}
	}
	return nil
}

func (y *fileSyncer) close() error {
	y.mu.Lock()
	defer y.mu.Unlock()
	var errs []error
	// io_destroy waits for an fsync still in flight (none: sync waits).
	if _, _, errno := unix.Syscall(unix.SYS_IO_DESTROY, y.aio, 0, 0); errno != 0 {
		errs = append(errs, fmt.Errorf("io_destroy: %w", errno))
	}
	return errors.Join(append(errs, y.done.Close())...)
}
