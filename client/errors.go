package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors. An *Error from the server matches the sentinel of its
// OAuth error code with errors.Is, whichever dialect carried it:
//
//	if errors.Is(err, client.ErrAccessDenied) { … }
var (
	ErrAuthorizationPending  = errors.New("authorization pending")
	ErrSlowDown              = errors.New("slow down")
	ErrAccessDenied          = errors.New("access denied")
	ErrExpiredToken          = errors.New("expired")
	ErrInvalidClient         = errors.New("invalid client")
	ErrInvalidGrant          = errors.New("invalid grant")
	ErrInvalidRequest        = errors.New("invalid request")
	ErrInvalidScope          = errors.New("invalid scope")
	ErrUnauthorizedClient    = errors.New("unauthorized client")
	ErrUnsupportedGrantType  = errors.New("unsupported grant type")
	ErrInvalidClientMetadata = errors.New("invalid client metadata")
	ErrInvalidRedirectURI    = errors.New("invalid redirect URI")
	ErrServer                = errors.New("server error")

	// ErrUnreachable wraps every failure to get an HTTP answer at all
	// (DNS, refused connection, TLS, timeout).
	ErrUnreachable = errors.New("server unreachable")
	// ErrLoginRequired means there is no usable cached token: none was
	// cached, or it expired and could not be refreshed. Run a login.
	ErrLoginRequired = errors.New("login required")
	// ErrRevocationUnsupported means the server offers no way to revoke a
	// token (it answered 404 or 405).
	ErrRevocationUnsupported = errors.New("the server does not support revocation")
)

// errorKind ties an AWS exception name to its OAuth code and sentinel
// (sso-oidc 2019-06-10 model; RFC 6749 §5.2, RFC 8628 §3.5).
type errorKind struct {
	exception string
	code      string
	sentinel  error
}

var errorKinds = []errorKind{
	{"AccessDeniedException", "access_denied", ErrAccessDenied},
	{"AuthorizationPendingException", "authorization_pending", ErrAuthorizationPending},
	{"ExpiredTokenException", "expired_token", ErrExpiredToken},
	{"InternalServerException", "server_error", ErrServer},
	{"InvalidClientException", "invalid_client", ErrInvalidClient},
	{"InvalidClientMetadataException", "invalid_client_metadata", ErrInvalidClientMetadata},
	{"InvalidGrantException", "invalid_grant", ErrInvalidGrant},
	{"InvalidRedirectUriException", "invalid_redirect_uri", ErrInvalidRedirectURI},
	{"InvalidRequestException", "invalid_request", ErrInvalidRequest},
	{"InvalidRequestRegionException", "invalid_request", ErrInvalidRequest},
	{"InvalidScopeException", "invalid_scope", ErrInvalidScope},
	{"SlowDownException", "slow_down", ErrSlowDown},
	{"UnauthorizedClientException", "unauthorized_client", ErrUnauthorizedClient},
	{"UnsupportedGrantTypeException", "unsupported_grant_type", ErrUnsupportedGrantType},
	// RFC-only codes.
	{"", "temporarily_unavailable", ErrServer},
	{"", "unsupported_response_type", ErrInvalidRequest},
}

// Error is an error answer from the server, in either dialect: the AWS
// rest-json one (exception name in the x-amzn-ErrorType header, body
// {"error","error_description"}) or RFC 6749 §5.2 JSON ({"error":…} alone).
type Error struct {
	// Op is the operation that failed, e.g. "CreateToken".
	Op string
	// StatusCode is the HTTP status.
	StatusCode int
	// Type is the AWS exception name (bare, e.g. "AccessDeniedException"),
	// derived from Code when the server sent none.
	Type string
	// Code is the OAuth error code (e.g. "access_denied"), derived from
	// Type when the body had none.
	Code string
	// Description is the server's human-readable text, if any.
	Description string
	// RequestID is the x-amzn-RequestId header, if any.
	RequestID string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	switch {
	case e.Type != "" && e.Code != "":
		fmt.Fprintf(&b, "%s (%s)", e.Type, e.Code)
	case e.Type != "":
		b.WriteString(e.Type)
	case e.Code != "":
		b.WriteString(e.Code)
	default:
		fmt.Fprintf(&b, "HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	return b.String()
}

// Is reports whether e has the OAuth code of the sentinel target. A 5xx
// answer without a known code matches ErrServer.
func (e *Error) Is(target error) bool {
	for _, k := range errorKinds {
		if k.sentinel == target && ((e.Code != "" && k.code == e.Code) || (e.Type != "" && k.exception == e.Type)) {
			return true
		}
	}
	return target == ErrServer && e.StatusCode >= 500 && e.Code == "" && e.Type == ""
}

// parseError reads an error answer. The x-amzn-ErrorType header wins (as in
// every AWS SDK), then a body __type, then the body's RFC "error" member.
func parseError(op string, resp *http.Response, body []byte) *Error {
	e := &Error{Op: op, StatusCode: resp.StatusCode, RequestID: resp.Header.Get("x-amzn-RequestId")}
	var b struct {
		Error            any    `json:"error"`
		ErrorDescription string `json:"error_description"`
		Type             string `json:"__type"`
		Message          string `json:"message"`
		MessageUpper     string `json:"Message"`
	}
	if json.Unmarshal(body, &b) == nil {
		if s, ok := b.Error.(string); ok {
			e.Code = s
		}
		e.Description = firstNonEmpty(b.ErrorDescription, b.Message, b.MessageUpper)
		e.Type = exceptionName(b.Type)
	}
	if h := resp.Header.Get("x-amzn-ErrorType"); h != "" {
		e.Type = exceptionName(h)
	}
	for _, k := range errorKinds {
		if e.Code == "" && e.Type != "" && k.exception == e.Type {
			e.Code = k.code
		}
		if e.Type == "" && e.Code != "" && k.code == e.Code {
			e.Type = k.exception
		}
	}
	if e.Description == "" && e.Code == "" && e.Type == "" {
		// Not an OAuth answer at all (a proxy page, a wrong URL): show a
		// little of it.
		if s := strings.TrimSpace(string(body)); s != "" && len(s) <= 200 && !strings.ContainsAny(s, "<>") {
			e.Description = s
		}
	}
	return e
}

// exceptionName sanitises an error type the way smithy-go and botocore do:
// cut at the first ':', keep what follows a '#'.
func exceptionName(s string) string {
	s, _, _ = strings.Cut(s, ":")
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
