// Package awsapi serves the AWS SSO OIDC rest-json dialect (service "SSO
// OIDC", API version 2019-06-10) so that unmodified AWS clients — the AWS
// CLI, boto3, aws-sdk-go-v2 service/ssooidc, the JavaScript SDKs — can
// register, start a device authorization and create tokens against this
// server:
//
//	POST /client/register       RegisterClient
//	POST /device_authorization  StartDeviceAuthorization
//	POST /token                 CreateToken
//	POST /token?aws_iam=t       CreateTokenWithIAM (refused: not supported)
//
// Requests are camelCase JSON objects, parsed whatever the Content-Type (old
// botocore sends none). Answers are camelCase JSON; an error is identified by
// its x-amzn-ErrorType header and carries the OAuth pair
// {"error","error_description"} in its body, exactly as AWS sends it — no
// `code`, `__type` or `message` member, which some SDKs would mistake for the
// error type.
//
// The package is an adapter: it decodes, calls the protocol-neutral engine
// in internal/oauth and writes what the engine answered. Which Kind becomes
// which exception name, status and RFC code is decided only by the engine's
// error table.
package awsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
)

// Response headers. AWS spells them x-amzn-RequestId and x-amzn-ErrorType;
// every AWS client reads header names case-insensitively, so the canonical
// Go spelling that http.Header.Set produces is equally good on the wire and
// keeps the headers visible to Go middleware using Header.Get.
const (
	headerRequestID = "x-amzn-RequestId"
	headerErrorType = "x-amzn-ErrorType"
	contentTypeJSON = "application/json"
)

// The same names as http.Header keys them (http.CanonicalHeaderKey; a test
// checks), to assign directly: Header.Set would canonicalize the AWS
// spelling again, allocating, on every response.
const (
	keyRequestID = "X-Amzn-Requestid"
	keyErrorType = "X-Amzn-Errortype"
)

// API is the AWS SSO OIDC dialect over one engine.
type API struct {
	engine *oauth.Engine
	log    *slog.Logger
	// authorizationEndpoint is advertised by RegisterClient; empty when the
	// engine has no issuer.
	authorizationEndpoint string
	// pollBodies are the encoded bodies of the polling answers, which
	// repeat on every poll (see writeError).
	pollBodies errorBodies
}

// New returns the dialect over engine. A nil log discards.
func New(engine *oauth.Engine, log *slog.Logger) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{engine: engine, log: log}
	if iss := engine.Config().Issuer; iss != "" {
		a.authorizationEndpoint = iss + "/authorize"
	}
	return a
}

// Register adds the three AWS SSO OIDC operations to mux. Other methods on
// these paths, and unknown paths, are left to the mux and the server.
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle("POST /client/register", a.handle("RegisterClient", a.registerClient))
	mux.Handle("POST /device_authorization", a.handle("StartDeviceAuthorization", a.startDeviceAuthorization))
	mux.Handle("POST /token", a.handle("CreateToken", a.createToken))
}

// handlerFunc is the shape of every operation: it writes a success itself
// and returns any failure for writeError to answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle wraps an operation once: request id on every response, and every
// error through writeError.
func (a *API) handle(op string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestID(r.Context())
		// Set before the handler runs so successes and errors both carry it;
		// SDKs surface it as the request id of the call.
		w.Header()[keyRequestID] = []string{id}
		if err := h(w, r); err != nil {
			a.writeError(w, r, op, id, err)
		}
	})
}

// requestID is the id the server's middleware assigned, or a fresh one when
// the API runs without it (tests, embedding).
func requestID(ctx context.Context) string {
	if id := reqinfo.From(ctx).ID; id != "" {
		return id
	}
	return reqinfo.NewID()
}

// clientIP is the address StartDeviceAuthorization records for the consent
// page: the middleware's view (which knows trusted proxies), else the peer.
func clientIP(r *http.Request) string {
	if ip := reqinfo.From(r.Context()).ClientIP; ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientError remembers which client id a failed request named, for the
// log line only (the wire never echoes it).
type clientError struct {
	clientID string
	err      error
}

func (e *clientError) Error() string { return e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

// withClient tags err with the client id the request named.
func withClient(clientID string, err error) error {
	return &clientError{clientID: clientID, err: err}
}

// maxLoggedClientID bounds what a caller-chosen client id can put in a log.
const maxLoggedClientID = 64

// errorBody is the body of every AWS SSO OIDC error (AWS-WIRE.md §3.4). It
// deliberately has no `code`, `__type` or `message` member.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// writeError is the one place an error becomes an AWS answer: the status,
// exception name and RFC code all come from the engine's error table, the
// description from (*oauth.Error).WireDescription, so an internal error
// never shows its cause. The cause goes to the log instead.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, op, id string, err error) {
	oe := oauth.AsError(err)
	a.logError(r.Context(), op, id, err, oe)

	body := errorBody{Error: oe.Kind.RFCCode(), ErrorDescription: oe.WireDescription()}
	out := a.pollBodies.get(body)
	if out == nil {
		buf, mErr := encode(body)
		defer release(buf)
		if mErr != nil {
			// Cannot happen for two strings; never send a half-built answer.
			oe = &oauth.Error{Kind: oauth.Internal}
			buf.Reset()
			buf.WriteString(`{"error":"` + oe.Kind.RFCCode() + `","error_description":"` + oe.WireDescription() + `"}`)
		} else if oe.Kind == oauth.AuthorizationPending || oe.Kind == oauth.SlowDown {
			a.pollBodies.put(body, bytes.Clone(buf.Bytes()))
		}
		out = buf.Bytes()
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	// The bare shape name: no AWS ":http://internal…" suffix (optional) and
	// never a "namespace#" prefix (JS v2 would keep it). Without this header
	// botocore reports code "400" and `aws sso login` aborts on the first
	// pending poll.
	h[keyErrorType] = []string{oe.Kind.AWSException()}
	w.WriteHeader(oe.Kind.AWSStatus())
	w.Write(out)
}

// errorBodies remembers encoded error bodies, so that the answer a poller
// gets every few seconds — the bulk of all traffic — is not encoded each
// time. Only the polling answers are kept: the engine words them itself
// (pending has one text; slow_down names the interval or a wait), never
// with what a client sent, so there are few of them; maxErrorBodies bounds
// the map should that ever change.
type errorBodies struct {
	m sync.Map     // errorBody → []byte, never modified once stored
	n atomic.Int32 // entries in m
}

const maxErrorBodies = 64

// get returns the encoded body, or nil when it is not kept.
func (c *errorBodies) get(b errorBody) []byte {
	v, _ := c.m.Load(b)
	out, _ := v.([]byte)
	return out
}

// put keeps the encoding of b while there is room.
func (c *errorBodies) put(b errorBody, encoded []byte) {
	if c.n.Load() >= maxErrorBodies {
		return
	}
	if _, loaded := c.m.LoadOrStore(b, encoded); !loaded {
		c.n.Add(1)
	}
}

// logError records a failed request: client id and operation, never a
// secret, device code or token. Pending and slow_down polls are the normal
// rhythm of the device flow, so they log at Debug at most; the check comes
// first so the hot polling path builds no attributes.
func (a *API) logError(ctx context.Context, op, id string, err error, oe *oauth.Error) {
	level := slog.LevelInfo
	switch oe.Kind {
	case oauth.Internal:
		level = slog.LevelError
	case oauth.AuthorizationPending, oauth.SlowDown:
		level = slog.LevelDebug
	}
	if !a.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("operation", op),
		slog.String("request_id", id),
		slog.String("error_type", oe.Kind.AWSException()),
	}
	if ce, ok := errors.AsType[*clientError](err); ok && ce.clientID != "" {
		cid := ce.clientID
		if len(cid) > maxLoggedClientID {
			cid = cid[:maxLoggedClientID]
		}
		attrs = append(attrs, slog.String("client_id", cid))
	}
	if oe.Kind == oauth.Internal {
		cause := oe.Err
		if cause == nil {
			cause = oe
		}
		attrs = append(attrs, slog.String("err", cause.Error()))
		a.log.LogAttrs(ctx, level, "AWS SSO OIDC request failed", attrs...)
		return
	}
	// Descriptions are wire text: safe to log, and they say what was wrong.
	attrs = append(attrs, slog.String("description", oe.Description))
	a.log.LogAttrs(ctx, level, "AWS SSO OIDC request rejected", attrs...)
}

// writeJSON answers 200 with v as the body. A value that cannot be encoded
// is an internal error, reported before anything is written.
func writeJSON(w http.ResponseWriter, v any) error {
	buf, err := encode(v)
	defer release(buf)
	if err != nil {
		return &oauth.Error{Kind: oauth.Internal, Description: "encode response", Err: err}
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
	return nil
}

var encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encode writes v into a pooled buffer (give it back with release) without
// HTML escaping — descriptions may quote what a client sent, and `<` should
// stay readable — and without the encoder's trailing newline, as AWS does.
func encode(v any) (*bytes.Buffer, error) {
	buf := encodeBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	if err == nil {
		buf.Truncate(buf.Len() - 1) // the newline Encode appends
	}
	return buf, err
}

// release returns an encode buffer to the pool; an unusually large one is
// left to the collector so the pool does not pin memory.
func release(buf *bytes.Buffer) {
	if buf.Cap() <= 64<<10 {
		encodeBuffers.Put(buf)
	}
}
