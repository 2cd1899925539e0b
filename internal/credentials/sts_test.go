package credentials_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	awscreds "github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ssooidc/ssooidc/internal/credentials"
	"github.com/ssooidc/ssooidc/internal/credentials/ststest"
)

func newSTS(s *ststest.Server, roleARN string) *credentials.STS {
	return credentials.NewSTS(credentials.STSConfig{
		Endpoint:    s.URL,
		Region:      "eu-west-1",
		RoleARN:     roleARN,
		Credentials: awscreds.NewStaticCredentialsProvider("AKIDSSOOIDC", "ssooidc-secret", "ssooidc-session"),
	})
}

func TestSTSAssumeRole(t *testing.T) {
	s := ststest.Start(t)
	src := newSTS(s, "")
	got, err := src.Credentials(t.Context(), credentials.Request{AccountID: "111122223333", RoleName: "ReadOnly", UserName: "alice", Duration: 2 * time.Hour})
	if err != nil {
		t.Fatalf("Credentials: %v", err)
	}
	want := credentials.Credentials{
		AccessKeyID:     "ASIAIOSFODNN7EXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
		SessionToken:    "IQoJb3JpZ2luX2VjEXAMPLE",
		Expiration:      time.Date(2026, 11, 28, 11, 30, 0, 0, time.UTC),
		Source:          "sts",
	}
	if got != want {
		t.Errorf("Credentials = %#v, want %#v (secrets compared too)", got, want)
		if got.SecretAccessKey != want.SecretAccessKey || got.SessionToken != want.SessionToken {
			t.Error("secret parts differ")
		}
	}
	reqs, auth := calls(s)
	if len(reqs) != 1 {
		t.Fatalf("%d STS requests, want 1", len(reqs))
	}
	q := reqs[0]
	for name, want := range map[string]string{
		"RoleArn":         "arn:aws:iam::111122223333:role/ReadOnly",
		"RoleSessionName": "alice",
		"DurationSeconds": "7200",
	} {
		if q.Get(name) != want {
			t.Errorf("%s = %q, want %q", name, q.Get(name), want)
		}
	}
	if m := ststest.SigV4.FindStringSubmatch(auth[0]); m == nil || m[1] != "AKIDSSOOIDC" || m[3] != "eu-west-1" {
		t.Errorf("Authorization = %q, want signed by AKIDSSOOIDC for eu-west-1", auth[0])
	}
}

func TestSTSRoleARNTemplateAndSessionName(t *testing.T) {
	s := ststest.Start(t)
	src := newSTS(s, "arn:aws-us-gov:iam::{account}:role/sso/{role}")
	if _, err := src.Credentials(t.Context(), credentials.Request{AccountID: "111122223333", RoleName: "Admin", UserName: "x", Duration: 0}); err != nil {
		t.Fatalf("Credentials: %v", err)
	}
	reqs, _ := calls(s)
	if got := reqs[0].Get("RoleArn"); got != "arn:aws-us-gov:iam::111122223333:role/sso/Admin" {
		t.Errorf("RoleArn = %q", got)
	}
	if got := reqs[0].Get("RoleSessionName"); got != "x-ssooidc" {
		t.Errorf("RoleSessionName = %q, want x-ssooidc (padded to STS's minimum)", got)
	}
	if got := reqs[0].Get("DurationSeconds"); got != "3600" {
		t.Errorf("DurationSeconds = %q, want the default 3600", got)
	}
}

// A role whose MaxSessionDuration is shorter than the assignment's gets
// one-hour credentials rather than none.
func TestSTSDurationCappedByRole(t *testing.T) {
	s := ststest.Start(t)
	s.MaxDuration = 3600
	got, err := newSTS(s, "").Credentials(t.Context(), credentials.Request{AccountID: "111122223333", RoleName: "ReadOnly", UserName: "alice", Duration: 8 * time.Hour})
	if err != nil {
		t.Fatalf("Credentials: %v", err)
	}
	reqs, _ := calls(s)
	if len(reqs) != 2 || reqs[0].Get("DurationSeconds") != "28800" || reqs[1].Get("DurationSeconds") != "3600" {
		t.Errorf("STS saw durations %v, want 28800 then 3600", durations(reqs))
	}
	if want := time.Date(2026, 11, 28, 10, 30, 0, 0, time.UTC); !got.Expiration.Equal(want) {
		t.Errorf("Expiration = %v, want %v", got.Expiration, want)
	}

	// Within STS's range nothing is retried; beyond it the duration is
	// capped before asking.
	s2 := ststest.Start(t)
	if _, err := newSTS(s2, "").Credentials(t.Context(), credentials.Request{AccountID: "111122223333", RoleName: "R", UserName: "alice", Duration: 48 * time.Hour}); err != nil {
		t.Fatalf("Credentials(48h): %v", err)
	}
	if reqs, _ := calls(s2); len(reqs) != 1 || reqs[0].Get("DurationSeconds") != "43200" {
		t.Errorf("STS saw durations %v, want 43200", durations(reqs))
	}
}

// calls returns the forms and Authorization headers the stand-in received.
func calls(s *ststest.Server) ([]url.Values, []string) {
	var forms []url.Values
	var auth []string
	for _, r := range s.Requests() {
		forms = append(forms, r.Form)
		auth = append(auth, r.Authorization)
	}
	return forms, auth
}

func durations(reqs []url.Values) []string {
	var out []string
	for _, q := range reqs {
		out = append(out, q.Get("DurationSeconds"))
	}
	return out
}

func TestSTSAccessDenied(t *testing.T) {
	s := ststest.Start(t)
	s.Deny = true
	_, err := newSTS(s, "").Credentials(t.Context(), credentials.Request{AccountID: "111122223333", RoleName: "ReadOnly", UserName: "alice", Duration: 2 * time.Hour})
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") || !strings.Contains(err.Error(), "arn:aws:iam::111122223333:role/ReadOnly") {
		t.Errorf("error = %v, want STS's AccessDenied naming the role", err)
	}
	if reqs, _ := calls(s); len(reqs) != 1 {
		t.Errorf("%d STS requests, want 1 (no retry of a refusal)", len(reqs))
	}
}

// Without configured credentials the source uses the standard AWS chain;
// here, the environment. Not parallel: it sets the environment.
func TestSTSDefaultCredentialChain(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "ap-southeast-2")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	s := ststest.Start(t)
	src := credentials.NewSTS(credentials.STSConfig{Endpoint: s.URL})
	if _, err := src.Credentials(t.Context(), credentials.Request{AccountID: "111122223333", RoleName: "ReadOnly", UserName: "alice", Duration: time.Hour}); err != nil {
		t.Fatalf("Credentials: %v", err)
	}
	_, auth := calls(s)
	if m := ststest.SigV4.FindStringSubmatch(auth[0]); m == nil || m[1] != "AKIDFROMENV" || m[3] != "ap-southeast-2" {
		t.Errorf("Authorization = %q, want signed by AKIDFROMENV for ap-southeast-2", auth[0])
	}
}

func TestSessionName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{"alice.smith+ops@example.com", "alice.smith+ops@example.com"},
		{"a", "a-ssooidc"},
		{"", "-ssooidc"},
		{"zoë o'neil", "zo--o-neil"},
		{strings.Repeat("x", 80), strings.Repeat("x", 64)},
	} {
		if got := credentials.SessionName(tc.in); got != tc.want {
			t.Errorf("SessionName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestClampDuration(t *testing.T) {
	for _, tc := range []struct {
		in, want time.Duration
		changed  bool
	}{
		{0, time.Hour, false},
		{time.Minute, 15 * time.Minute, true},
		{15 * time.Minute, 15 * time.Minute, false},
		{8 * time.Hour, 8 * time.Hour, false},
		{13 * time.Hour, 12 * time.Hour, true},
		{time.Hour + time.Millisecond, time.Hour, true},
	} {
		if got, changed := credentials.ClampDuration(tc.in); got != tc.want || changed != tc.changed {
			t.Errorf("ClampDuration(%v) = %v, %v; want %v, %v", tc.in, got, changed, tc.want, tc.changed)
		}
	}
}

func TestRouter(t *testing.T) {
	s := ststest.Start(t)
	r := credentials.Router{ByAccount: map[string]credentials.Source{"111122223333": newSTS(s, "")}}
	if _, err := r.Credentials(t.Context(), credentials.Request{AccountID: "111122223333", RoleName: "R", UserName: "alice"}); err != nil {
		t.Errorf("listed account: %v", err)
	}
	_, err := r.Credentials(t.Context(), credentials.Request{AccountID: "444455556666", RoleName: "R", UserName: "alice"})
	if err == nil || !strings.Contains(err.Error(), "444455556666") {
		t.Errorf("unlisted account without a default: %v, want an error naming it", err)
	}
}
