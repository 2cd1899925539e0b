package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
	"github.com/chromedp/chromedp"

	"github.com/ssooidc/ssooidc/internal/reqinfo"
	"github.com/ssooidc/ssooidc/internal/server/servertest"
)

// cliLogin does what `aws sso login` (CLI ≥ 2.22) does for an sso-session:
// register for the authorization code grant with the port-less loopback
// redirect URI, listen on a random loopback port, and build the /authorize
// URL exactly as awscli/customizations/sso/utils.py does.
type cliLogin struct {
	client      *ssooidc.Client
	reg         *ssooidc.RegisterClientOutput
	verifier    string
	state       string
	redirectURI string
	authorize   string
	callbacks   chan url.Values
}

func startCLILogin(t *testing.T, s *servertest.Server) *cliLogin {
	t.Helper()
	c := sdkClient(t, s)
	reg, err := c.RegisterClient(context.Background(), &ssooidc.RegisterClientInput{
		ClientName:   aws.String("botocore-client-dev"),
		ClientType:   aws.String("public"),
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectUris: []string{"http://127.0.0.1/oauth/callback"},
		IssuerUrl:    aws.String(testStartURL),
		Scopes:       []string{"sso:account:access"},
	})
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	// The CLI's callback server: answers any GET, hands over the query.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &cliLogin{client: c, reg: reg, callbacks: make(chan url.Values, 4)}
	cb := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.callbacks <- r.URL.Query()
		fmt.Fprintln(w, "You may close this window.")
	})}
	go cb.Serve(ln)
	t.Cleanup(func() { cb.Close() })

	const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	v := make([]byte, 64)
	rand.Read(v)
	for i := range v {
		v[i] = unreserved[int(v[i])%len(unreserved)]
	}
	l.verifier = string(v)
	sum := sha256.Sum256(v)
	challenge := strings.TrimRight(base64.URLEncoding.EncodeToString(sum[:]), "=")
	l.state = reqinfo.NewID()
	l.redirectURI = fmt.Sprintf("http://127.0.0.1:%d/oauth/callback", ln.Addr().(*net.TCPAddr).Port)
	q := url.Values{}
	q.Set("response_type", "code")
	q.Set("client_id", aws.ToString(reg.ClientId))
	q.Set("redirect_uri", l.redirectURI)
	q.Set("state", l.state)
	q.Set("code_challenge_method", "S256")
	q.Set("scopes", "sso:account:access")
	q.Set("code_challenge", challenge)
	// Python's urlencode(quote_via=quote) writes spaces as %20.
	l.authorize = s.URL + "/authorize?" + strings.ReplaceAll(q.Encode(), "+", "%20")
	return l
}

func (l *cliLogin) callback(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-l.callbacks:
		return q
	case <-time.After(30 * time.Second):
		t.Fatal("the browser never reached the callback")
		return nil
	}
}

func (l *cliLogin) redeem(code, redirectURI, verifier string) (*ssooidc.CreateTokenOutput, error) {
	return l.client.CreateToken(context.Background(), &ssooidc.CreateTokenInput{
		ClientId:     l.reg.ClientId,
		ClientSecret: l.reg.ClientSecret,
		GrantType:    aws.String("authorization_code"),
		Code:         aws.String(code),
		RedirectUri:  aws.String(redirectURI),
		CodeVerifier: aws.String(verifier),
	})
}

func TestPKCEFlowLikeTheAWSCLI(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startCLILogin(t, s)

	s.NewBrowser(t).Decide(l.authorize, testUser, testPassword, true)
	q := l.callback(t)
	if q.Get("state") != l.state || q.Get("code") == "" || q.Get("error") != "" {
		t.Fatalf("callback query = %v", q)
	}
	tok, err := l.redeem(q.Get("code"), l.redirectURI, l.verifier)
	if err != nil {
		t.Fatalf("CreateToken(authorization_code): %v", err)
	}
	if tok.ExpiresIn != 3600 || aws.ToString(tok.RefreshToken) == "" {
		t.Errorf("expiresIn %d, refresh token %q", tok.ExpiresIn, aws.ToString(tok.RefreshToken))
	}

	// A second use of the code fails and revokes what the first issued.
	_, err = l.redeem(q.Get("code"), l.redirectURI, l.verifier)
	wantErr[*types.InvalidGrantException](t, err)
	_, err = l.client.CreateToken(context.Background(), &ssooidc.CreateTokenInput{
		ClientId: l.reg.ClientId, ClientSecret: l.reg.ClientSecret,
		GrantType: aws.String("refresh_token"), RefreshToken: tok.RefreshToken,
	})
	wantErr[*types.InvalidGrantException](t, err)
}

func TestPKCEFlowRefresh(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startCLILogin(t, s)
	s.NewBrowser(t).Decide(l.authorize, testUser, testPassword, true)
	tok, err := l.redeem(l.callback(t).Get("code"), l.redirectURI, l.verifier)
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(50 * time.Minute)
	ref, err := l.client.CreateToken(context.Background(), &ssooidc.CreateTokenInput{
		ClientId: l.reg.ClientId, ClientSecret: l.reg.ClientSecret,
		GrantType: aws.String("refresh_token"), RefreshToken: tok.RefreshToken,
	})
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if aws.ToString(ref.RefreshToken) == aws.ToString(tok.RefreshToken) {
		t.Error("refresh token not rotated")
	}
}

func TestPKCEDenied(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startCLILogin(t, s)
	s.NewBrowser(t).Decide(l.authorize, testUser, testPassword, false)
	q := l.callback(t)
	if q.Get("error") != "access_denied" || q.Get("state") != l.state || q.Get("code") != "" {
		t.Errorf("callback query = %v, want error=access_denied with the state", q)
	}
}

func TestPKCERedeemErrors(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startCLILogin(t, s)
	s.NewBrowser(t).Decide(l.authorize, testUser, testPassword, true)
	code := l.callback(t).Get("code")

	other := startCLILogin(t, s)
	otherPort := strings.Replace(l.redirectURI, "127.0.0.1:", "127.0.0.1:1", 1)
	tests := []struct {
		name string
		call func() error
	}{
		{"wrong verifier", func() error { _, err := l.redeem(code, l.redirectURI, strings.Repeat("x", 64)); return err }},
		{"wrong redirect URI", func() error { _, err := l.redeem(code, otherPort, l.verifier); return err }},
		{"unknown code", func() error { _, err := l.redeem("sso_ac_nope", l.redirectURI, l.verifier); return err }},
		{"another client's code", func() error { _, err := other.redeem(code, l.redirectURI, l.verifier); return err }},
	}
	for _, tt := range tests {
		wantErr[*types.InvalidGrantException](t, tt.call())
	}
	// None of the failures consumed the code.
	if _, err := l.redeem(code, l.redirectURI, l.verifier); err != nil {
		t.Fatalf("redeem after failed attempts: %v", err)
	}

	// An expired code.
	l2 := startCLILogin(t, s)
	s.NewBrowser(t).Decide(l2.authorize, testUser, testPassword, true)
	code2 := l2.callback(t).Get("code")
	s.Clock.Advance(61 * time.Second)
	_, err := l2.redeem(code2, l2.redirectURI, l2.verifier)
	wantErr[*types.InvalidGrantException](t, err)
}

func TestPKCEConcurrentRedeemOneWins(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startCLILogin(t, s)
	s.NewBrowser(t).Decide(l.authorize, testUser, testPassword, true)
	code := l.callback(t).Get("code")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = l.redeem(code, l.redirectURI, l.verifier) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		wantErr[*types.InvalidGrantException](t, err)
	}
	if wins != 1 {
		t.Errorf("%d redeems won, want exactly 1", wins)
	}
}

func TestGrantTypeSeparation(t *testing.T) {
	s := servertest.Start(t)
	// A PKCE registration may not start a device authorization…
	l := startCLILogin(t, s)
	_, err := l.client.StartDeviceAuthorization(context.Background(), &ssooidc.StartDeviceAuthorizationInput{
		ClientId: l.reg.ClientId, ClientSecret: l.reg.ClientSecret, StartUrl: aws.String(testStartURL),
	})
	wantErr[*types.UnauthorizedClientException](t, err)

	// …and a device registration may not use /authorize: it has no
	// redirect URI, so the error is shown on a page, never redirected.
	d := startDeviceLogin(t, s)
	q := url.Values{"response_type": {"code"}, "client_id": {aws.ToString(d.reg.ClientId)},
		"redirect_uri": {l.redirectURI}, "state": {"s"}, "code_challenge_method": {"S256"},
		"code_challenge": {strings.Repeat("a", 43)}}
	b := s.NewBrowser(t)
	p := b.Get(s.URL + "/authorize?" + q.Encode())
	if b.LastRedirect != nil || p.Status < 400 {
		t.Errorf("device client at /authorize: status %d, redirect %v", p.Status, b.LastRedirect)
	}
}

func TestRegisterClientValidation(t *testing.T) {
	s := servertest.Start(t)
	c := sdkClient(t, s)
	ctx := context.Background()
	base := func() *ssooidc.RegisterClientInput {
		return &ssooidc.RegisterClientInput{ClientName: aws.String("x"), ClientType: aws.String("public")}
	}
	in := base()
	in.GrantTypes = []string{"client_credentials"}
	_, err := c.RegisterClient(ctx, in)
	wantErr[*types.UnsupportedGrantTypeException](t, err)

	for _, uri := range []string{"http://example.com/cb", "ftp://127.0.0.1/cb", "https://example.com/cb#frag", "not a uri"} {
		in = base()
		in.GrantTypes = []string{"authorization_code"}
		in.RedirectUris = []string{uri}
		_, err = c.RegisterClient(ctx, in)
		wantErr[*types.InvalidRedirectUriException](t, err)
	}

	in = base()
	in.IssuerUrl = aws.String("https://d-9999999999.awsapps.com/start")
	_, err = c.RegisterClient(ctx, in)
	wantErr[*types.InvalidClientMetadataException](t, err)

	in = base()
	in.ClientType = aws.String("confidential")
	_, err = c.RegisterClient(ctx, in)
	wantErr[*types.InvalidClientMetadataException](t, err)
}

// TestPKCEApprovalInChromium runs the CLI's default login in a real browser.
func TestPKCEApprovalInChromium(t *testing.T) {
	ctx := chromium(t)
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startCLILogin(t, s)
	err := chromedp.Do(ctx,
		chromedp.Navigate(l.authorize),
		chromedp.WaitVisible(`input[name="username"]`),
		chromedp.SendKeys(`input[name="username"]`, testUser),
		chromedp.SendKeys(`input[name="password"]`, testPassword),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`button[value="allow"]`),
		chromedp.Click(`button[value="allow"]`),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	q := l.callback(t)
	if q.Get("state") != l.state {
		t.Fatalf("callback state = %q, want %q", q.Get("state"), l.state)
	}
	if _, err := l.redeem(q.Get("code"), l.redirectURI, l.verifier); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
}
