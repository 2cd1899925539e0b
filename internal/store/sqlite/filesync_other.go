//go:build !(linux && (amd64 || arm64))

package sqlite

import (
	"errors"
	"os"
)

// fileSyncer is the asynchronous fsync of filesync_linux.go, which this
// platform lacks: the checkpointer then lets SQLite sync as usual.
type fileSyncer struct{}

func newFileSyncer(*os.File) (*fileSyncer, error) {
	return nil, errors.New("no asynchronous fsync on this platform")
}

func (*fileSyncer) sync(f *os.File) error { return f.Sync() }

func (*fileSyncer) close() error { return nil }
