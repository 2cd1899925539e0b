// Package reqinfo carries what the server learns about a request before any
// handler runs — its id and the client's address — through the context, so
// the dialects and pages can use them without knowing the middleware.
package reqinfo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:36], b[10:16])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}
