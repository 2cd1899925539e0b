// Package ststest is a local stand-in for AWS STS AssumeRole, for tests of
// the sts credential source (AWS itself is out of reach there). It checks
// that each request is a well-formed AssumeRole signed with SigV4 and
// answers as STS does: the XML AssumeRoleResponse, or STS's errors.
package ststest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The credentials every answer holds.
const (
	AccessKeyID     = "ASIAIOSFODNN7EXAMPLE"
	SecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
	SessionToken    = "IQoJb3JpZ2luX2VjEXAMPLE"
)

// Expiry is the time the answers count DurationSeconds from.
var Expiry = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

// SigV4 matches the Authorization header of a SigV4-signed STS request:
// groups are the access key id, date, region and signed headers.
var SigV4 = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)/(\d{8})/([a-z0-9-]+)/sts/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$`)

var (
	roleARN     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)
	sessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// Request is what the stand-in received.
type Request struct {
	Form          url.Values // Action, Version, RoleArn, RoleSessionName, DurationSeconds
	Authorization string
}

// Server is the stand-in. Set its fields before the first request.
type Server struct {
	URL string
	// MaxDuration, when set, refuses longer sessions (in seconds) with the
	// ValidationError of a role whose MaxSessionDuration is that.
	MaxDuration int
	// Deny refuses every request with AccessDenied.
	Deny bool

	t        testing.TB
	mu       sync.Mutex
	requests []Request
}

// Start runs a stand-in until the test ends. A malformed request fails t.
func Start(t testing.TB) *Server {
	s := &Server{t: t}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Requests returns what the stand-in received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	t := s.t
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil {
		t.Errorf("STS stand-in: body %q: %v", body, err)
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Form: form, Authorization: r.Header.Get("Authorization")})
	s.mu.Unlock()

	if r.Method != http.MethodPost || r.URL.Path != "/" {
		t.Errorf("STS stand-in: %s %s, want POST /", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("STS stand-in: Content-Type %q", ct)
	}
	if form.Get("Action") != "AssumeRole" || form.Get("Version") != "2011-06-15" {
		t.Errorf("STS stand-in: Action=%q Version=%q, want AssumeRole 2011-06-15", form.Get("Action"), form.Get("Version"))
	}
	m := SigV4.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil || !strings.Contains(m[4], "host") || !strings.Contains(m[4], "x-amz-date") || r.Header.Get("X-Amz-Date") == "" {
		t.Errorf("STS stand-in: not SigV4-signed: Authorization %q, X-Amz-Date %q", r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"))
	}
	arn := form.Get("RoleArn")
	if !roleARN.MatchString(arn) {
		t.Errorf("STS stand-in: RoleArn %q is not a role ARN", arn)
	}
	if !sessionName.MatchString(form.Get("RoleSessionName")) {
		t.Errorf("STS stand-in: RoleSessionName %q is not 2 to 64 of [\\w+=,.@-]", form.Get("RoleSessionName"))
	}
	var secs int
	if _, err := fmt.Sscan(form.Get("DurationSeconds"), &secs); err != nil || secs < 900 || secs > 43200 {
		t.Errorf("STS stand-in: DurationSeconds %q is not 900 to 43200", form.Get("DurationSeconds"))
	}

	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", "c6104cbe-af31-11e0-8154-cbc7ccf896c7")
	switch {
	case s.Deny:
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, stsError("AccessDenied", "User: arn:aws:iam::123456789012:user/ssooidc is not authorized to perform: sts:AssumeRole on resource: "+arn))
		return
	case s.MaxDuration > 0 && secs > s.MaxDuration:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, stsError("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."))
		return
	}
	account, role := "", ""
	if parts := strings.Split(arn, ":"); len(parts) == 6 {
		account, role = parts[4], arn[strings.LastIndex(arn, "/")+1:]
	}
	exp := Expiry.Add(time.Duration(secs) * time.Second)
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity></SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::%[1]s:assumed-role/%[2]s/%[3]s</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:%[3]s</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>%[5]s</AccessKeyId>
      <SecretAccessKey>%[6]s</SecretAccessKey>
      <SessionToken>%[7]s</SessionToken>
      <Expiration>%[4]s</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>`, account, role, form.Get("RoleSessionName"), exp.Format(time.RFC3339), AccessKeyID, SecretAccessKey, SessionToken)
}

func stsError(code, message string) string {
	return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>` + code +
		`</Code><Message>` + message + `</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>`
}
