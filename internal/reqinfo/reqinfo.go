// Package reqinfo carries what the server learns about a request before any
// handler runs — its id and the client's address — through the context, so
// the dialects and pages can use them without knowing the middleware.
package reqinfo

import (
	"context"
	"crypto/rand"
	"fmt"
)

// Info is the per-request metadata.
type Info struct {
	// ID is sent as x-amzn-RequestId and logged with every record.
	ID string
	// ClientIP is the peer address, or the X-Forwarded-For client when the
	// peer is a trusted proxy.
	ClientIP string
}

type key struct{}

// With returns a context carrying info.
func With(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// From returns the request's info; the zero Info when none was set.
func From(ctx context.Context) Info {
	info, _ := ctx.Value(key{}).(Info)
	return info
}

// NewID returns a random UUID (version 4), the form AWS request ids take.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
