package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/client"
)

// answer is one scripted HTTP answer; err simulates a transport failure.
type answer struct {
	status int
	header map[string]string
	body   string
	err    error
}

func pending() answer {
	return answer{400, map[string]string{"x-amzn-ErrorType": "AuthorizationPendingException:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/"},
		`{"error":"authorization_pending","error_description":"Authorization is still pending"}`, nil}
}

func slowDown() answer {
	return answer{400, map[string]string{"x-amzn-ErrorType": "SlowDownException"}, `{"error":"slow_down"}`, nil}
}

func awsError(typ, code string) answer {
	return answer{400, map[string]string{"x-amzn-ErrorType": typ}, fmt.Sprintf(`{"error":%q,"error_description":"scripted"}`, code), nil}
}

func rfcError(code string) answer {
	return answer{400, nil, fmt.Sprintf(`{"error":%q}`, code), nil}
}

func token(access string) answer {
	return answer{200, nil, fmt.Sprintf(`{"accessToken":%q,"tokenType":"Bearer","expiresIn":3600,"refreshToken":"rt"}`, access), nil}
}

// script is an in-memory transport: it answers requests in order and
// records when (on the synctest clock) and what was asked.
type script struct {
	mu      sync.Mutex
	answers []answer
	times   []time.Duration
	bodies  []string
	start   time.Time
}

func (s *script) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, _ := io.ReadAll(req.Body)
	s.times = append(s.times, time.Since(s.start))
	s.bodies = append(s.bodies, string(body))
	if len(s.answers) == 0 {
		return nil, errors.New("script: no more answers")
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	if a.err != nil {
		return nil, a.err
	}
	h := http.Header{"Content-Type": {"application/json"}, "Date": {time.Now().UTC().Format(http.TimeFormat)}}
	for k, v := range a.header {
		h.Set(k, v)
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(strings.NewReader(a.body)), Request: req}, nil
}

func (s *script) polls() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.times...)
}

func scriptedClient(t *testing.T, s *script, warn func(error)) *client.Client {
	t.Helper()
	s.start = time.Now()
	c, err := client.New(client.Options{
		Region:     "us-east-1",
		Endpoint:   "https://oidc.example.test",
		CacheDir:   t.TempDir(),
		HTTPClient: &http.Client{Transport: s},
		Warn:       warn,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var testReg = &client.Registration{ClientID: "cid", ClientSecret: "csecret"}

func deviceAuth(interval, expiresIn time.Duration) *client.DeviceAuthorization {
	return &client.DeviceAuthorization{
		DeviceCode: "dc", UserCode: "BCDF-GHJK", Interval: interval, ExpiresIn: expiresIn,
		ExpiresAt: time.Now().Add(expiresIn),
	}
}

func secs(s ...int) []time.Duration {
	var out []time.Duration
	for _, v := range s {
		out = append(out, time.Duration(v)*time.Second)
	}
	return out
}

func TestPollLoop(t *testing.T) {
	unreachable := errors.New("connection refused")
	tests := []struct {
		name      string
		interval  time.Duration
		expiresIn time.Duration
		answers   []answer
		wantPolls []time.Duration
		wantToken string
		wantErr   error
	}{
		{
			name:     "polls at once then every interval",
			interval: 5 * time.Second, expiresIn: 10 * time.Minute,
			answers:   []answer{pending(), pending(), token("at-1")},
			wantPolls: secs(0, 5, 10), wantToken: "at-1",
		},
		{
			name:     "slow_down adds five seconds each time",
			interval: time.Second, expiresIn: 10 * time.Minute,
			answers:   []answer{pending(), pending(), slowDown(), pending(), slowDown(), token("at-2")},
			wantPolls: secs(0, 1, 2, 8, 14, 25), wantToken: "at-2",
		},
		{
			name:     "the RFC dialect without the header",
			interval: 2 * time.Second, expiresIn: 10 * time.Minute,
			answers:   []answer{rfcError("authorization_pending"), rfcError("slow_down"), token("at-3")},
			wantPolls: secs(0, 2, 9), wantToken: "at-3",
		},
		{
			name:     "a missing interval means five seconds",
			interval: 0, expiresIn: 10 * time.Minute,
			answers:   []answer{pending(), token("at-4")},
			wantPolls: secs(0, 5), wantToken: "at-4",
		},
		{
			name:     "stops when the code expires",
			interval: 3 * time.Second, expiresIn: 10 * time.Second,
			answers:   []answer{pending(), pending(), pending(), pending(), pending(), pending()},
			wantPolls: secs(0, 3, 6, 9, 10), wantErr: client.ErrExpiredToken,
		},
		{
			name:     "the server says expired",
			interval: time.Second, expiresIn: time.Minute,
			answers:   []answer{pending(), awsError("ExpiredTokenException", "expired_token")},
			wantPolls: secs(0, 1), wantErr: client.ErrExpiredToken,
		},
		{
			name:     "denied",
			interval: time.Second, expiresIn: time.Minute,
			answers:   []answer{pending(), pending(), awsError("AccessDeniedException", "access_denied")},
			wantPolls: secs(0, 1, 2), wantErr: client.ErrAccessDenied,
		},
		{
			name:     "denied in the RFC dialect",
			interval: time.Second, expiresIn: time.Minute,
			answers:   []answer{rfcError("access_denied")},
			wantPolls: secs(0), wantErr: client.ErrAccessDenied,
		},
		{
			name:     "rides out two network failures",
			interval: time.Second, expiresIn: time.Minute,
			answers:   []answer{{err: unreachable}, {status: 503, body: "busy"}, pending(), token("at-5")},
			wantPolls: secs(0, 1, 2, 3), wantToken: "at-5",
		},
		{
			name:     "gives up after three failures in a row",
			interval: time.Second, expiresIn: time.Minute,
			answers:   []answer{{err: unreachable}, {err: unreachable}, {err: unreachable}},
			wantPolls: secs(0, 1, 2), wantErr: client.ErrUnreachable,
		},
		{
			name:     "another error stops at once",
			interval: time.Second, expiresIn: time.Minute,
			answers:   []answer{awsError("InvalidGrantException", "invalid_grant")},
			wantPolls: secs(0), wantErr: client.ErrInvalidGrant,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &script{answers: tt.answers}
				c := scriptedClient(t, s, nil)
				tok, err := c.PollToken(t.Context(), testReg, deviceAuth(tt.interval, tt.expiresIn))
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
				} else if err != nil {
					t.Fatalf("PollToken: %v", err)
				} else if tok.AccessToken != tt.wantToken {
					t.Errorf("token = %q, want %q", tok.AccessToken, tt.wantToken)
				}
				if diff := cmp.Diff(tt.wantPolls, s.polls()); diff != "" {
					t.Errorf("poll times (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestPollSendsTheDeviceCodeGrant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{answers: []answer{token("at")}}
		c := scriptedClient(t, s, nil)
		tok, err := c.PollToken(t.Context(), testReg, deviceAuth(time.Second, time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := `{"clientId":"cid","clientSecret":"csecret","grantType":"urn:ietf:params:oauth:grant-type:device_code","deviceCode":"dc"}`
		if s.bodies[0] != want {
			t.Errorf("request body\n got %s\nwant %s", s.bodies[0], want)
		}
		if got, want := tok.ExpiresAt, time.Now().Add(time.Hour); !got.Equal(want) {
			t.Errorf("ExpiresAt = %v, want %v", got, want)
		}
		if tok.RefreshToken != "rt" || tok.TokenType != "Bearer" {
			t.Errorf("token = %+v", tok)
		}
	})
}

func TestPollStopsWhenCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var answers []answer
		for range 100 {
			answers = append(answers, pending())
		}
		s := &script{answers: answers}
		c := scriptedClient(t, s, nil)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(7 * time.Second)
			cancel()
		}()
		start := time.Now()
		_, err := c.PollToken(ctx, testReg, deviceAuth(2*time.Second, 10*time.Minute))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if took := time.Since(start); took != 7*time.Second {
			t.Errorf("returned after %v, want 7s", took)
		}
		if diff := cmp.Diff(secs(0, 2, 4, 6), s.polls()); diff != "" {
			t.Errorf("poll times (-want +got):\n%s", diff)
		}
	})
}

func TestClockSkewWarning(t *testing.T) {
	for _, tt := range []struct {
		name  string
		skew  time.Duration
		warns bool
	}{
		{"in sync", 2 * time.Second, false},
		{"just within", 4 * time.Minute, false},
		{"server ahead", 20 * time.Minute, true},
		{"server behind", -3 * time.Hour, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &script{answers: []answer{pending(), token("at")}}
				var warnings []error
				// The script stamps Date with the bubble's clock; the
				// client's clock is shifted instead.
				c, err := client.New(client.Options{
					Region: "us-east-1", Endpoint: "https://oidc.example.test", CacheDir: t.TempDir(),
					HTTPClient: &http.Client{Transport: s},
					Now:        func() time.Time { return time.Now().Add(-tt.skew) },
					Warn:       func(err error) { warnings = append(warnings, err) },
				})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.PollToken(t.Context(), testReg, deviceAuth(time.Second, 10*time.Hour)); err != nil {
					t.Fatal(err)
				}
				if !tt.warns {
					if len(warnings) != 0 {
						t.Errorf("warnings: %v", warnings)
					}
					return
				}
				if len(warnings) != 1 {
					t.Fatalf("got %d warnings, want one: %v", len(warnings), warnings)
				}
				var ce *client.ClockSkewError
				if !errors.As(warnings[0], &ce) {
					t.Fatalf("warning %v is not a *ClockSkewError", warnings[0])
				}
				if got := ce.Skew(); got != tt.skew {
					t.Errorf("skew = %v, want %v", got, tt.skew)
				}
				msg := warnings[0].Error()
				for _, want := range []string{"clock", "NTP"} {
					if !strings.Contains(msg, want) {
						t.Errorf("message %q lacks %q", msg, want)
					}
				}
			})
		})
	}
}
