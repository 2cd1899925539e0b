package awsapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"unicode/utf8"

	"github.com/ssooidc/ssooidc/internal/oauth"
)

// maxBodyBytes bounds a request body. The largest legitimate request, a PKCE
// RegisterClient, is well under 1 KiB; 64 KiB leaves room for long lists.
const maxBodyBytes = 64 << 10

// memberState is what the JSON said about one member. The model marks some
// members required; absent, null and "" all fail that check, while a value
// of the wrong JSON type is reported as such.
type memberState uint8

const (
	absent memberState = iota
	null
	present
	wrongType
)

// jsonString is a string member that remembers whether it was present,
// null or of the wrong type. Its UnmarshalJSON never fails, so one decode
// reports on every member and validation picks the first problem in model
// order. A repeated key overwrites: the last one wins.
type jsonString struct {
	v     string
	state memberState
}

// UnmarshalJSON implements json.Unmarshaler. encoding/json has validated
// the whole input before any member is decoded, so b is one JSON value.
func (s *jsonString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		*s = jsonString{state: wrongType}
	case b[0] == 'n':
		*s = jsonString{state: null}
	case b[0] != '"':
		*s = jsonString{state: wrongType}
	default:
		v, ok := unquoteASCII(b)
		if !ok {
			if v, ok = unquoteJSON(b); !ok {
				*s = jsonString{state: wrongType}
				return nil
			}
		}
		*s = jsonString{v: v, state: present}
	}
	return nil
}

// unquoteJSON handles escapes and non-ASCII the way encoding/json does for
// a plain string (invalid UTF-8 included). A function of its own so that
// the fast path's result does not escape to the heap.
func unquoteJSON(b []byte) (string, bool) {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return "", false
	}
	return v, true
}

// unquoteASCII is the fast path for the usual member: printable ASCII
// without escapes, copied once.
func unquoteASCII(b []byte) (string, bool) {
	if len(b) < 2 || b[len(b)-1] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	for _, c := range inner {
		if c == '\\' || c >= utf8.RuneSelf {
			return "", false
		}
	}
	return string(inner), true
}

// need checks a required string member (present, a string, not empty).
func (s jsonString) need(name string) error {
	switch {
	case s.state == wrongType:
		return errMustBeString(name)
	case s.state == present && s.v != "":
		return nil
	}
	return oauth.Errorf(oauth.InvalidRequest, "%s is required.", name)
}

// check checks an optional string member's type.
func (s jsonString) check(name string) error {
	if s.state == wrongType {
		return errMustBeString(name)
	}
	return nil
}

func errMustBeString(name string) error {
	return oauth.Errorf(oauth.InvalidRequest, "%s must be a string.", name)
}

// jsonStrings is a list<string> member: a JSON array of strings (a null
// element is not a string).
type jsonStrings struct {
	v     []string
	state memberState
}

// UnmarshalJSON implements json.Unmarshaler.
func (l *jsonStrings) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		*l = jsonStrings{state: wrongType}
	case b[0] == 'n':
		*l = jsonStrings{state: null}
	case b[0] != '[':
		*l = jsonStrings{state: wrongType}
	default:
		var items []jsonString
		if err := json.Unmarshal(b, &items); err != nil {
			*l = jsonStrings{state: wrongType}
			return nil
		}
		v := make([]string, 0, len(items))
		for _, it := range items {
			if it.state != present {
				*l = jsonStrings{state: wrongType}
				return nil
			}
			v = append(v, it.v)
		}
		*l = jsonStrings{v: v, state: present}
	}
	return nil
}

// check checks an optional list member's type.
func (l jsonStrings) check(name string) error {
	if l.state == wrongType {
		return oauth.Errorf(oauth.InvalidRequest, "%s must be a list of strings.", name)
	}
	return nil
}

// request is an operation's input: decoded by parse, then validated
// against the model's required members and types.
type request interface {
	validate() error
}

// registerClientRequest is RegisterClientRequest (AWS RegisterClient).
type registerClientRequest struct {
	ClientName             jsonString  `json:"clientName"`
	ClientType             jsonString  `json:"clientType"`
	Scopes                 jsonStrings `json:"scopes"`
	RedirectURIs           jsonStrings `json:"redirectUris"`
	GrantTypes             jsonStrings `json:"grantTypes"`
	IssuerURL              jsonString  `json:"issuerUrl"`
	EntitledApplicationARN jsonString  `json:"entitledApplicationArn"` // accepted, unused
}

// validate reports the first problem in model member order (cmp.Or keeps
// the first non-nil error).
func (q *registerClientRequest) validate() error {
	return cmp.Or(
		q.ClientName.need("clientName"),
		q.ClientType.need("clientType"),
		q.Scopes.check("scopes"),
		q.RedirectURIs.check("redirectUris"),
		q.GrantTypes.check("grantTypes"),
		q.IssuerURL.check("issuerUrl"),
		q.EntitledApplicationARN.check("entitledApplicationArn"),
	)
}

// startDeviceAuthorizationRequest is StartDeviceAuthorizationRequest.
type startDeviceAuthorizationRequest struct {
	ClientID     jsonString `json:"clientId"`
	ClientSecret jsonString `json:"clientSecret"`
	StartURL     jsonString `json:"startUrl"`
}

func (q *startDeviceAuthorizationRequest) validate() error {
	return cmp.Or(
		q.ClientID.need("clientId"),
		q.ClientSecret.need("clientSecret"),
		q.StartURL.need("startUrl"),
	)
}

// createTokenRequest is CreateTokenRequest (AWS CreateToken).
type createTokenRequest struct {
	ClientID     jsonString  `json:"clientId"`
	ClientSecret jsonString  `json:"clientSecret"`
	GrantType    jsonString  `json:"grantType"`
	DeviceCode   jsonString  `json:"deviceCode"`
	Code         jsonString  `json:"code"`
	RefreshToken jsonString  `json:"refreshToken"`
	Scope        jsonStrings `json:"scope"` // "has no effect" (model doc); type-checked only
	RedirectURI  jsonString  `json:"redirectUri"`
	CodeVerifier jsonString  `json:"codeVerifier"`
}

func (q *createTokenRequest) validate() error {
	return cmp.Or(
		q.ClientID.need("clientId"),
		q.ClientSecret.need("clientSecret"),
		q.GrantType.need("grantType"),
		q.DeviceCode.check("deviceCode"),
		q.Code.check("code"),
		q.RefreshToken.check("refreshToken"),
		q.Scope.check("scope"),
		q.RedirectURI.check("redirectUri"),
		q.CodeVerifier.check("codeVerifier"),
	)
}

var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// decode reads the body (at most maxBodyBytes) into a pooled buffer and
// parses it into q. Decoded strings are copies, so the buffer goes back to
// the pool at once.
func decode(w http.ResponseWriter, r *http.Request, q request) error {
	buf := readBuffers.Get().(*bytes.Buffer)
	defer readBuffers.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBodyBytes)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return oauth.Errorf(oauth.InvalidRequest, "Request body is too large.")
		}
		return &oauth.Error{Kind: oauth.InvalidRequest, Description: "The request body could not be read.", Err: err}
	}
	return parse(buf.Bytes(), q)
}

// parse decodes one JSON object into q and validates it; every error is an
// InvalidRequest *oauth.Error. The Content-Type is not consulted: botocore
// before late 2021 sent none. Unknown members are ignored (the model grows;
// clients add members before servers know them). encoding/json matches
// member names case-insensitively ("ClientId" fills clientId); AWS clients
// send the model's exact names, so that leniency costs nothing.
func parse(data []byte, q request) error {
	first := firstNonSpace(data)
	if first < 0 {
		return oauth.Errorf(oauth.InvalidRequest, "Request body is empty; expected a JSON object.")
	}
	err := json.Unmarshal(data, q)
	if _, ok := errors.AsType[*json.SyntaxError](err); ok {
		return oauth.Errorf(oauth.InvalidRequest, "Request body is not valid JSON.")
	}
	// `null` decodes into a struct without error; arrays, strings and
	// numbers fail with an UnmarshalTypeError. Both are "not an object".
	if data[first] != '{' {
		return oauth.Errorf(oauth.InvalidRequest, "Request body must be a JSON object.")
	}
	if err != nil {
		// The member types never fail; anything else is still the client's.
		return &oauth.Error{Kind: oauth.InvalidRequest, Description: "Request body is not valid JSON.", Err: err}
	}
	return q.validate()
}

// firstNonSpace is the index of the first non-whitespace byte (JSON's four
// whitespace characters), or -1.
func firstNonSpace(b []byte) int {
	for i, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return -1
}
