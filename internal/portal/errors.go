package portal

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ssooidc/ssooidc/internal/accounts"
	"github.com/ssooidc/ssooidc/internal/oauth"
)

// kind is one row of the portal's error table.
type kind int

// The portal's errors. The zero kind is internal, so a forgotten kind never
// leaks detail.
const (
	kindInternal kind = iota
	kindInvalidRequest
	kindUnauthorized
	kindForbidden
	kindNotFound
	kindTooManyRequests
)

// exception is how the portal spells an error: the shape name sent in
// x-amzn-ErrorType and the status.
type exception struct {
	name   string
	status int
}

// table is the only place the portal spells its wire errors: the four the
// sso model declares (InvalidRequestException 400, UnauthorizedException
// 401, ResourceNotFoundException 404, TooManyRequestsException 429), the
// ForbiddenException real AWS sends for a role not assigned to the caller
// (AWS-WIRE.md §8), and an internal error. The OAuth dialects' table is in
// internal/oauth/errors.go; these are not OAuth errors (no RFC code
// exists for most of them), so they live with the only dialect that sends
// them.
var table = [...]exception{
	kindInternal:        {"InternalServerException", http.StatusInternalServerError},
	kindInvalidRequest:  {"InvalidRequestException", http.StatusBadRequest},
	kindUnauthorized:    {"UnauthorizedException", http.StatusUnauthorized},
	kindForbidden:       {"ForbiddenException", http.StatusForbidden},
	kindNotFound:        {"ResourceNotFoundException", http.StatusNotFound},
	kindTooManyRequests: {"TooManyRequestsException", http.StatusTooManyRequests},
}

// Error is a portal error: message is wire text, err the cause for logs.
type Error struct {
	kind       kind
	message    string
	err        error
	retryAfter time.Duration // TooManyRequests only
}

func (e *Error) Error() string {
	s := table[e.kind].name + ": " + e.message
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.err }

// wireMessage is the message to send: an internal error never shows its
// cause.
func (e *Error) wireMessage() string {
	if e.kind == kindInternal && e.message == "" {
		return "An internal error occurred."
	}
	return e.message
}

func invalidRequest(message string) *Error { return &Error{kind: kindInvalidRequest, message: message} }

// asError turns whatever a handler returned into a portal error: the
// engine's InvalidToken is UnauthorizedException, the accounts service's
// refusals are ResourceNotFound and Forbidden, anything else is internal.
func asError(err error) *Error {
	if pe, ok := errors.AsType[*Error](err); ok {
		return pe
	}
	if oe, ok := errors.AsType[*oauth.Error](err); ok {
		switch oe.Kind {
		case oauth.InvalidToken:
			return &Error{kind: kindUnauthorized, message: oe.WireDescription(), err: err}
		case oauth.InvalidRequest:
			return &Error{kind: kindInvalidRequest, message: oe.WireDescription(), err: err}
		}
		return &Error{kind: kindInternal, err: err}
	}
	switch {
	case errors.Is(err, accounts.ErrNoAccount):
		return &Error{kind: kindNotFound, message: "No account with this id.", err: err}
	case errors.Is(err, accounts.ErrNoRole):
		return &Error{kind: kindNotFound, message: "No role with this name in the account.", err: err}
	case errors.Is(err, accounts.ErrNotAssigned):
		// AWS's own words: {"message":"No access"}.
		return &Error{kind: kindForbidden, message: "No access", err: err}
	case errors.Is(err, accounts.ErrNoUser):
		return &Error{kind: kindUnauthorized, message: "Session token not found or invalid", err: err}
	case errors.Is(err, accounts.ErrSource):
		return &Error{kind: kindInternal, message: "The credentials for this role could not be obtained; the administrator finds the cause in the server log under this request id.", err: err}
	}
	return &Error{kind: kindInternal, err: err}
}

// errorBody is every portal error's body: one message member, as the sso
// model declares, and no `code` or `__type` member.
type errorBody struct {
	Message string `json:"message"`
}

// writeError is the one place an error becomes a portal answer.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, op, id string, err error) {
	pe := asError(err)
	a.logError(r.Context(), op, id, pe)
	ex := table[pe.kind]
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set(headerErrorType, ex.name)
	if pe.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((pe.retryAfter+time.Second-1)/time.Second)))
	}
	writeBody(w, ex.status, errorBody{Message: pe.wireMessage()})
}

// logError records a failed request without the token or any credential:
// refusals at Info with their wire text, internal errors at Error with the
// cause.
func (a *API) logError(ctx context.Context, op, id string, pe *Error) {
	level := slog.LevelInfo
	if pe.kind == kindInternal {
		level = slog.LevelError
	}
	if !a.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("operation", op),
		slog.String("request_id", id),
		slog.String("error_type", table[pe.kind].name),
		slog.String("message", pe.wireMessage()),
	}
	if pe.err != nil && pe.kind == kindInternal {
		attrs = append(attrs, slog.String("err", pe.err.Error()))
	}
	a.log.LogAttrs(ctx, level, "SSO portal request refused", attrs...)
}
