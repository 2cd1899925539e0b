package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc/types"

	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/server/servertest"
)

const (
	testStartURL = "https://d-0000000000.awsapps.com/start"
	testUser     = "alice"
	testPassword = "correct horse battery staple"
)

// sdkClient is the real aws-sdk-go-v2 SSO OIDC client pointed at s. Its
// idle connections are closed when the test ends, before the server stops,
// so a connection dialled but never used does not hold the shutdown.
func sdkClient(t *testing.T, s *servertest.Server) *ssooidc.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	return ssooidc.New(ssooidc.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Transport: transport},
	})
}

type deviceLogin struct {
	client *ssooidc.Client
	reg    *ssooidc.RegisterClientOutput
	start  *ssooidc.StartDeviceAuthorizationOutput
}

// startDeviceLogin registers like the AWS CLI's device flow and starts an
// authorization.
func startDeviceLogin(t *testing.T, s *servertest.Server) deviceLogin {
	t.Helper()
	ctx := context.Background()
	c := sdkClient(t, s)
	reg, err := c.RegisterClient(ctx, &ssooidc.RegisterClientInput{
		ClientName: aws.String("botocore-client-dev"),
		ClientType: aws.String("public"),
		Scopes:     []string{"sso:account:access"},
	})
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	start, err := c.StartDeviceAuthorization(ctx, &ssooidc.StartDeviceAuthorizationInput{
		ClientId:     reg.ClientId,
		ClientSecret: reg.ClientSecret,
		StartUrl:     aws.String(testStartURL),
	})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization: %v", err)
	}
	return deviceLogin{client: c, reg: reg, start: start}
}

func (l deviceLogin) poll() (*ssooidc.CreateTokenOutput, error) {
	return l.client.CreateToken(context.Background(), &ssooidc.CreateTokenInput{
		ClientId:     l.reg.ClientId,
		ClientSecret: l.reg.ClientSecret,
		GrantType:    aws.String("urn:ietf:params:oauth:grant-type:device_code"),
		DeviceCode:   l.start.DeviceCode,
	})
}

func (l deviceLogin) refresh(token string) (*ssooidc.CreateTokenOutput, error) {
	return l.client.CreateToken(context.Background(), &ssooidc.CreateTokenInput{
		ClientId:     l.reg.ClientId,
		ClientSecret: l.reg.ClientSecret,
		GrantType:    aws.String("refresh_token"),
		RefreshToken: aws.String(token),
	})
}

func wantErr[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error = %v (%T), want %T", err, err, target)
	}
	return target
}

func TestDeviceFlowWithAWSSDK(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startDeviceLogin(t, s)

	if got := l.reg.ClientSecretExpiresAt - l.reg.ClientIdIssuedAt; got != int64(90*24*time.Hour/time.Second) {
		t.Errorf("registration lifetime = %d s, want 90 days", got)
	}
	if l.start.ExpiresIn != 600 || l.start.Interval != 1 {
		t.Errorf("expiresIn, interval = %d, %d; want 600, 1", l.start.ExpiresIn, l.start.Interval)
	}
	if want := s.URL + "/device"; aws.ToString(l.start.VerificationUri) != want {
		t.Errorf("verificationUri = %q, want %q", aws.ToString(l.start.VerificationUri), want)
	}
	code := aws.ToString(l.start.UserCode)
	if want := s.URL + "/device?user_code=" + code; aws.ToString(l.start.VerificationUriComplete) != want {
		t.Errorf("verificationUriComplete = %q, want %q", aws.ToString(l.start.VerificationUriComplete), want)
	}

	// The CLI polls twice back to back: both pending, neither slow_down.
	for range 2 {
		_, err := l.poll()
		e := wantErr[*types.AuthorizationPendingException](t, err)
		if aws.ToString(e.Error_) != "authorization_pending" {
			t.Errorf("error member = %q", aws.ToString(e.Error_))
		}
	}

	// The consent page names the client and shows the code.
	b := s.NewBrowser(t)
	consent := b.SignInIfAsked(b.Get(aws.ToString(l.start.VerificationUriComplete)), testUser, testPassword)
	for _, want := range []string{"botocore-client-dev", code} {
		if !strings.Contains(consent.Body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	f, ok := consent.FormWith("action")
	if !ok {
		t.Fatalf("no consent form:\n%s", consent.Body)
	}
	b.Submit(consent, f, map[string][]string{"action": {"allow"}})

	s.Clock.Advance(time.Second)
	tok, err := l.poll()
	if err != nil {
		t.Fatalf("CreateToken after approval: %v", err)
	}
	if tok.ExpiresIn != 3600 || aws.ToString(tok.TokenType) != "Bearer" || aws.ToString(tok.AccessToken) == "" || aws.ToString(tok.RefreshToken) == "" {
		t.Errorf("token = expiresIn %d, type %q, access %t, refresh %t", tok.ExpiresIn, aws.ToString(tok.TokenType), tok.AccessToken != nil, tok.RefreshToken != nil)
	}
	if tok.IdToken != nil {
		t.Errorf("idToken = %q, want none (CreateToken does not issue one)", aws.ToString(tok.IdToken))
	}

	// Exactly once.
	_, err = l.poll()
	wantErr[*types.InvalidGrantException](t, err)

	// Refresh rotates.
	s.Clock.Advance(30 * time.Minute)
	ref, err := l.refresh(aws.ToString(tok.RefreshToken))
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if aws.ToString(ref.RefreshToken) == aws.ToString(tok.RefreshToken) || aws.ToString(ref.AccessToken) == aws.ToString(tok.AccessToken) {
		t.Error("refresh did not rotate both tokens")
	}

	// Reusing the rotated token after the grace revokes the whole family.
	s.Clock.Advance(10 * time.Second)
	_, err = l.refresh(aws.ToString(tok.RefreshToken))
	wantErr[*types.InvalidGrantException](t, err)
	_, err = l.refresh(aws.ToString(ref.RefreshToken))
	wantErr[*types.InvalidGrantException](t, err)
}

func TestDeviceFlowDenied(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startDeviceLogin(t, s)
	b := s.NewBrowser(t)
	b.Decide(aws.ToString(l.start.VerificationUriComplete), testUser, testPassword, false)

	_, err := l.poll()
	wantErr[*types.AccessDeniedException](t, err)
	s.Clock.Advance(5 * time.Minute)
	_, err = l.poll()
	wantErr[*types.AccessDeniedException](t, err)
	// Once expired, ExpiredTokenException for as long as the row is kept.
	s.Clock.Advance(6 * time.Minute)
	_, err = l.poll()
	wantErr[*types.ExpiredTokenException](t, err)
}

func TestDeviceFlowExpired(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startDeviceLogin(t, s)
	s.Clock.Advance(600 * time.Second)
	_, err := l.poll()
	wantErr[*types.ExpiredTokenException](t, err)

	// The page no longer offers the expired code, and says nothing about why.
	b := s.NewBrowser(t)
	p := b.SignInIfAsked(b.Get(aws.ToString(l.start.VerificationUriComplete)), testUser, testPassword)
	if _, ok := p.FormWith("action"); ok {
		t.Error("an expired code still shows a consent form")
	}
}

func TestDeviceFlowSlowDown(t *testing.T) {
	s := servertest.Start(t)
	l := startDeviceLogin(t, s)
	for range 2 {
		_, err := l.poll()
		wantErr[*types.AuthorizationPendingException](t, err)
	}
	_, err := l.poll()
	wantErr[*types.SlowDownException](t, err)
	// The interval grew by 5 s to 6 s: 6 s later a burst of two is
	// allowed again, a third poll is not.
	s.Clock.Advance(6 * time.Second)
	for range 2 {
		_, err = l.poll()
		wantErr[*types.AuthorizationPendingException](t, err)
	}
	_, err = l.poll()
	wantErr[*types.SlowDownException](t, err)
	// Slowing down again grew it to 11 s.
	s.Clock.Advance(10 * time.Second)
	_, err = l.poll()
	wantErr[*types.SlowDownException](t, err)
}

func TestRegistrationSurvivesRestart(t *testing.T) {
	s := servertest.Start(t)
	l := startDeviceLogin(t, s)
	s2 := s.Restart(t)
	c := sdkClient(t, s2)
	_, err := c.StartDeviceAuthorization(context.Background(), &ssooidc.StartDeviceAuthorizationInput{
		ClientId:     l.reg.ClientId,
		ClientSecret: l.reg.ClientSecret,
		StartUrl:     aws.String(testStartURL),
	})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization after restart: %v", err)
	}
}

func TestUnknownClientIs401(t *testing.T) {
	s := servertest.Start(t)
	_, err := sdkClient(t, s).StartDeviceAuthorization(context.Background(), &ssooidc.StartDeviceAuthorizationInput{
		ClientId:     aws.String("nope"),
		ClientSecret: aws.String("nope"),
		StartUrl:     aws.String(testStartURL),
	})
	wantErr[*types.InvalidClientException](t, err)
}

// Parallel AWS processes refresh from one cached token: within the grace
// both get tokens, in the same family.
func TestConcurrentRefreshWithinGrace(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startDeviceLogin(t, s)
	s.NewBrowser(t).Decide(aws.ToString(l.start.VerificationUriComplete), testUser, testPassword, true)
	tok, err := l.poll()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = l.refresh(aws.ToString(tok.RefreshToken)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("refresh %d: %v", i, err)
		}
	}
}

func TestReuseGraceOffRevokesAtOnce(t *testing.T) {
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) { c.RefreshReuseGrace = 0 }))
	s.AddUser(t, testUser, testPassword)
	l := startDeviceLogin(t, s)
	s.NewBrowser(t).Decide(aws.ToString(l.start.VerificationUriComplete), testUser, testPassword, true)
	tok, err := l.poll()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.refresh(aws.ToString(tok.RefreshToken)); err != nil {
		t.Fatal(err)
	}
	_, err = l.refresh(aws.ToString(tok.RefreshToken))
	wantErr[*types.InvalidGrantException](t, err)
}

func TestDisabledUserCannotRefresh(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startDeviceLogin(t, s)
	s.NewBrowser(t).Decide(aws.ToString(l.start.VerificationUriComplete), testUser, testPassword, true)
	tok, err := l.poll()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Server.Directory().SetDisabled(context.Background(), testUser, true); err != nil {
		t.Fatal(err)
	}
	_, err = l.refresh(aws.ToString(tok.RefreshToken))
	wantErr[*types.InvalidGrantException](t, err)
}

func TestHealth(t *testing.T) {
	s := servertest.Start(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s = %d, want 200", path, resp.StatusCode)
		}
	}
}

func TestReadyzFailsWhenTheStoreIsGone(t *testing.T) {
	s := servertest.Start(t)
	if err := s.Store.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want 503", resp.StatusCode)
	}
	resp, err = http.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d, want 200 (process-only)", resp.StatusCode)
	}
	_, err = sdkClient(t, s).RegisterClient(context.Background(), &ssooidc.RegisterClientInput{ClientName: aws.String("x"), ClientType: aws.String("public")})
	wantErr[*types.InternalServerException](t, err)
}
