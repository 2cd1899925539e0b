package oauth

import (
	"errors"
	"fmt"
)

// Kind classifies an engine error. The zero Kind is Internal, so an error
// whose kind was forgotten never leaks detail to the wire.
type Kind int

// The kinds, one per row of the error table.
const (
	Internal Kind = iota
	InvalidRequest
	InvalidClient
	InvalidGrant
	UnauthorizedClient
	UnsupportedGrantType
	InvalidScope
	AuthorizationPending
	SlowDown
	AccessDenied
	ExpiredToken
	InvalidClientMetadata
	InvalidRedirectURI
)

// wireCode is one row of THE error table: how each dialect spells a Kind.
type wireCode struct {
	rfc          string // RFC 6749 / 8628 `error`
	rfcStatus    int
	awsException string // AWS shape name, sent in x-amzn-ErrorType
	awsStatus    int
}

// table is the only place wire codes are spelled (AWS statuses from the
// sso-oidc model: InvalidClientException 401, InternalServerException 500,
// every other error 400).
var table = [...]wireCode{
	Internal:              {"server_error", 500, "InternalServerException", 500},
	InvalidRequest:        {"invalid_request", 400, "InvalidRequestException", 400},
	InvalidClient:         {"invalid_client", 401, "InvalidClientException", 401},
	InvalidGrant:          {"invalid_grant", 400, "InvalidGrantException", 400},
	UnauthorizedClient:    {"unauthorized_client", 400, "UnauthorizedClientException", 400},
	UnsupportedGrantType:  {"unsupported_grant_type", 400, "UnsupportedGrantTypeException", 400},
	InvalidScope:          {"invalid_scope", 400, "InvalidScopeException", 400},
	AuthorizationPending:  {"authorization_pending", 400, "AuthorizationPendingException", 400},
	SlowDown:              {"slow_down", 400, "SlowDownException", 400},
	AccessDenied:          {"access_denied", 400, "AccessDeniedException", 400},
	ExpiredToken:          {"expired_token", 400, "ExpiredTokenException", 400},
	InvalidClientMetadata: {"invalid_client_metadata", 400, "InvalidClientMetadataException", 400},
	InvalidRedirectURI:    {"invalid_redirect_uri", 400, "InvalidRedirectUriException", 400},
}

func (k Kind) row() wireCode {
	if k < 0 || int(k) >= len(table) {
		return table[Internal]
	}
	return table[k]
}

// RFCCode is the RFC 6749 `error` value.
func (k Kind) RFCCode() string { return k.row().rfc }

// RFCStatus is the HTTP status of the error in the RFC dialect.
func (k Kind) RFCStatus() int { return k.row().rfcStatus }

// AWSException is the AWS error shape name (x-amzn-ErrorType).
func (k Kind) AWSException() string { return k.row().awsException }

// AWSStatus is the HTTP status of the error in the AWS dialect.
func (k Kind) AWSStatus() int { return k.row().awsStatus }

func (k Kind) String() string { return k.AWSException() }

// Error is the only error type that reaches handlers. Description is safe
// for the wire; Err is the cause, for logs only.
type Error struct {
	Kind        Kind
	Description string
	Err         error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Description, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Description)
}

func (e *Error) Unwrap() error { return e.Err }

// WireDescription is the description to send: an internal error never
// shows its detail.
func (e *Error) WireDescription() string {
	if e.Kind == Internal {
		return "An internal error occurred."
	}
	return e.Description
}

// Errorf builds an *Error with a formatted wire description.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Description: fmt.Sprintf(format, args...)}
}

// internalError wraps a cause as an Internal error.
func internalError(op string, err error) *Error {
	return &Error{Kind: Internal, Description: op, Err: fmt.Errorf("%s: %w", op, err)}
}

// AsError converts any error to an *Error: an *Error in the chain is
// returned as is, anything else becomes Internal.
func AsError(err error) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	return &Error{Kind: Internal, Description: "internal error", Err: err}
}
