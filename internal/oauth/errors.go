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
	// InvalidToken: a bearer access token that is missing, unknown,
	// expired or revoked (RFC 6750 §3.1; the SSO portal's
	// UnauthorizedException). See bearer.go.
	InvalidToken
	// InsufficientScope: a valid bearer token without the scope the
	// resource needs (RFC 6750 §3.1; userinfo needs openid).
	InsufficientScope
	// UnsupportedTokenType: revocation of a token type this server does
	// not revoke (RFC 7009 §2.2.1).
	UnsupportedTokenType
	// UnsupportedResponseType: an authorization request whose
	// response_type is not code (RFC 6749 §4.1.2.1).
	UnsupportedResponseType
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
	InvalidToken:          {"invalid_token", 401, "UnauthorizedException", 401},
	// RFC-only kinds: the AWS dialect never produces them; should one reach
	// it, it is a bad request.
	InsufficientScope:       {"insufficient_scope", 403, "InvalidRequestException", 400},
	UnsupportedTokenType:    {"unsupported_token_type", 400, "InvalidRequestException", 400},
	UnsupportedResponseType: {"unsupported_response_type", 400, "InvalidRequestException", 400},
}

// Around the table, the RFC dialect's HTTP authentication challenges
// (WWW-Authenticate): RFC 6749 §5.2 answers a failed client
// authentication with 401 and the Basic scheme; RFC 6750 §3 answers a
// bearer-token request with the Bearer scheme, with the error code and
// description unless the request carried no token at all.

// BasicChallenge is the WWW-Authenticate value of an invalid_client answer.
func BasicChallenge(realm string) string {
	return `Basic realm="` + challengeText(realm) + `"`
}

// BearerChallenge is the WWW-Authenticate value of a bearer-token
// endpoint's error answer; tokenSent is false when the request had no
// token (RFC 6750 §3.1: then no error information).
func BearerChallenge(realm string, e *Error, tokenSent bool) string {
	v := `Bearer realm="` + challengeText(realm) + `"`
	if !tokenSent || e.Kind == Internal {
		return v
	}
	return v + `, error="` + e.Kind.RFCCode() + `", error_description="` + challengeText(e.WireDescription()) + `"`
}

// challengeText keeps what a quoted-string may hold without escapes and
// RFC 6750 §3 allows in error_description (%x20-21 / %x23-5B / %x5D-7E).
func challengeText(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b = append(b, c)
		}
	}
	return string(b)
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
	if oe, ok := errors.AsType[*Error](err); ok {
		return oe
	}
	return &Error{Kind: Internal, Description: "internal error", Err: err}
}
