package server_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sso"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/sso/types"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/accounts"
	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/credentials/ststest"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/server"
	"github.com/ssooidc/ssooidc/internal/server/servertest"
	"github.com/ssooidc/ssooidc/internal/store"
)

// The SSO portal end to end: real AWS SDK clients (service/sso, and the
// SDK's own SSO credential provider behind config.LoadDefaultConfig)
// against a whole server, with a token from the device flow.

// Fixed credentials stored for the static source.
const (
	portalKeyID   = "AKIAIOSFODNN7EXAMPLE"
	portalSecret  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	portalSession = "FwoGZXIvYXdzEXAMPLESESSION"
)

// portalClient is the real aws-sdk-go-v2 SSO portal client pointed at a
// server, without retries (so a 429 is seen, not retried).
func portalClient(t *testing.T, url string) *sso.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	return sso.New(sso.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Transport: transport},
	})
}

// portalAccounts administers the server's accounts as the admin commands do.
func portalAccounts(t *testing.T, st store.Store) *accounts.Service {
	keys, err := secret.New(servertest.TestKey)
	if err != nil {
		t.Fatal(err)
	}
	return accounts.New(st, keys, accounts.Config{}, nil, nil)
}

// portalLogin runs the device flow with the real pages and returns the
// login and its tokens.
func portalLogin(t *testing.T, s *servertest.Server) (deviceLogin, *ssooidc.CreateTokenOutput) {
	t.Helper()
	l := startDeviceLogin(t, s)
	s.NewBrowser(t).Decide(aws.ToString(l.start.VerificationUriComplete), testUser, testPassword, true)
	tok, err := l.poll()
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	return l, tok
}

// portalFixture: testUser holds ReadOnly (2h, fixed credentials) and, through
// the group devs, Admin in 111122223333, and ReadOnly in extra further
// accounts; only bob holds anything in 999999999999.
func portalFixture(t *testing.T, s *servertest.Server, extra int) []string {
	t.Helper()
	ctx := t.Context()
	acc := portalAccounts(t, s.Store)
	s.AddUser(t, testUser, testPassword)
	s.AddUser(t, "bob", testPassword)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	user := accounts.Principal{Type: store.PrincipalUser, Name: testUser}
	ids := []string{"111122223333"}
	_, err := acc.AddAccount(ctx, "111122223333", "Production", "aws-prod@example.com")
	must(err)
	_, err = acc.Assign(ctx, user, "111122223333", "ReadOnly", 2*time.Hour)
	must(err)
	_, err = acc.AddGroup(ctx, "devs")
	must(err)
	must(acc.AddMember(ctx, "devs", testUser))
	_, err = acc.Assign(ctx, accounts.Principal{Type: store.PrincipalGroup, Name: "devs"}, "111122223333", "Admin", time.Hour)
	must(err)
	must(acc.SetStaticCredentials(ctx, "111122223333", "ReadOnly", portalKeyID, portalSecret, portalSession))
	for i := range extra {
		id := fmt.Sprintf("2%011d", i*37)
		ids = append(ids, id)
		_, err := acc.AddAccount(ctx, id, "Sandbox "+id, "")
		must(err)
		_, err = acc.Assign(ctx, user, id, "ReadOnly", 0)
		must(err)
	}
	_, err = acc.AddAccount(ctx, "999999999999", "Billing", "")
	must(err)
	_, err = acc.Assign(ctx, accounts.Principal{Type: store.PrincipalUser, Name: "bob"}, "999999999999", "Billing", 0)
	must(err)
	return ids
}

func staticEverywhere(c *config.Config) { c.PortalStaticAccounts = []string{"*"} }

func TestPortalWithAWSSDK(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.WithConfig(staticEverywhere))
	wantIDs := portalFixture(t, s, 44)
	l, tok := portalLogin(t, s)
	c := portalClient(t, s.URL)
	ctx := context.Background()

	// ListAccounts, paginated by the SDK's own paginator.
	var gotIDs []string
	pages := 0
	p := sso.NewListAccountsPaginator(c, &sso.ListAccountsInput{AccessToken: tok.AccessToken, MaxResults: aws.Int32(10)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListAccounts page %d: %v", pages+1, err)
		}
		pages++
		for _, a := range page.AccountList {
			gotIDs = append(gotIDs, aws.ToString(a.AccountId))
		}
		if pages == 1 {
			first := page.AccountList[0]
			if aws.ToString(first.AccountName) != "Production" || aws.ToString(first.EmailAddress) != "aws-prod@example.com" {
				t.Errorf("first account = %+v", first)
			}
		}
	}
	if pages != 5 {
		t.Errorf("ListAccounts pages = %d, want 5 (45 accounts, 10 a page)", pages)
	}
	if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
		t.Errorf("ListAccounts ids mismatch (-want +got):\n%s", diff)
	}

	// ListAccountRoles.
	var roles []string
	rp := sso.NewListAccountRolesPaginator(c, &sso.ListAccountRolesInput{AccessToken: tok.AccessToken, AccountId: aws.String("111122223333"), MaxResults: aws.Int32(1)})
	for rp.HasMorePages() {
		page, err := rp.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListAccountRoles: %v", err)
		}
		for _, r := range page.RoleList {
			if aws.ToString(r.AccountId) != "111122223333" {
				t.Errorf("role %+v of another account", r)
			}
			roles = append(roles, aws.ToString(r.RoleName))
		}
	}
	if diff := cmp.Diff([]string{"Admin", "ReadOnly"}, roles); diff != "" {
		t.Errorf("ListAccountRoles mismatch (-want +got):\n%s", diff)
	}

	// GetRoleCredentials: the stored credentials, for the assignment's two
	// hours, the expiry read from epoch milliseconds.
	out, err := c.GetRoleCredentials(ctx, &sso.GetRoleCredentialsInput{AccessToken: tok.AccessToken, AccountId: aws.String("111122223333"), RoleName: aws.String("ReadOnly")})
	if err != nil {
		t.Fatalf("GetRoleCredentials: %v", err)
	}
	rc := out.RoleCredentials
	if aws.ToString(rc.AccessKeyId) != portalKeyID || aws.ToString(rc.SecretAccessKey) != portalSecret || aws.ToString(rc.SessionToken) != portalSession {
		t.Errorf("credentials = %s / %s / %s", aws.ToString(rc.AccessKeyId), aws.ToString(rc.SecretAccessKey), aws.ToString(rc.SessionToken))
	}
	if want := s.Clock.Now().Add(2 * time.Hour).UnixMilli(); rc.Expiration != want {
		t.Errorf("expiration = %d, want %d", rc.Expiration, want)
	}
	// Generated credentials for a role without stored ones.
	out, err = c.GetRoleCredentials(ctx, &sso.GetRoleCredentialsInput{AccessToken: tok.AccessToken, AccountId: aws.String("111122223333"), RoleName: aws.String("Admin")})
	if err != nil || !strings.HasPrefix(aws.ToString(out.RoleCredentials.AccessKeyId), "ASIA") {
		t.Errorf("GetRoleCredentials(Admin) = %+v, %v; want generated credentials", out, err)
	}

	// Each error as the SDK sees it.
	_, err = c.ListAccounts(ctx, &sso.ListAccountsInput{AccessToken: aws.String("sso_at_made-up")})
	if e := wantErr[*ssotypes.UnauthorizedException](t, err); aws.ToString(e.Message) != "Session token not found or invalid" {
		t.Errorf("UnauthorizedException message = %q", aws.ToString(e.Message))
	}
	_, err = c.ListAccountRoles(ctx, &sso.ListAccountRolesInput{AccessToken: tok.AccessToken, AccountId: aws.String("444455556666")})
	wantErr[*ssotypes.ResourceNotFoundException](t, err)
	_, err = c.GetRoleCredentials(ctx, &sso.GetRoleCredentialsInput{AccessToken: tok.AccessToken, AccountId: aws.String("111122223333"), RoleName: aws.String("Nope")})
	wantErr[*ssotypes.ResourceNotFoundException](t, err)
	_, err = c.ListAccounts(ctx, &sso.ListAccountsInput{AccessToken: tok.AccessToken, MaxResults: aws.Int32(101)})
	wantErr[*ssotypes.InvalidRequestException](t, err)
	_, err = c.GetRoleCredentials(ctx, &sso.GetRoleCredentialsInput{AccessToken: tok.AccessToken, AccountId: aws.String("999999999999"), RoleName: aws.String("Billing")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ForbiddenException" || ae.ErrorMessage() != "No access" {
		t.Errorf("someone else's role: error %v, want ForbiddenException No access", err)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Errorf("someone else's role: status of %v, want 403", err)
	}

	// Logout ends the session: the access token and the refresh token.
	if _, err := c.Logout(ctx, &sso.LogoutInput{AccessToken: tok.AccessToken}); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	_, err = c.ListAccounts(ctx, &sso.ListAccountsInput{AccessToken: tok.AccessToken})
	wantErr[*ssotypes.UnauthorizedException](t, err)
	_, err = c.Logout(ctx, &sso.LogoutInput{AccessToken: tok.AccessToken})
	wantErr[*ssotypes.UnauthorizedException](t, err)
	if _, err := l.refresh(aws.ToString(tok.RefreshToken)); err == nil {
		t.Error("refresh after Logout succeeded")
	}

	// The browser's sign-out page is still the pages' own.
	if resp, err := http.Get(s.URL + "/signout"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /signout = %v, %v; want the sign-out page", resp, err)
	} else {
		resp.Body.Close()
	}
}

func TestPortalTooManyRequestsWithAWSSDK(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		staticEverywhere(c)
		c.PortalRateLimit = 2
	}))
	portalFixture(t, s, 0)
	_, tok := portalLogin(t, s)
	c := portalClient(t, s.URL)
	for i := range 2 {
		if _, err := c.ListAccounts(t.Context(), &sso.ListAccountsInput{AccessToken: tok.AccessToken}); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	_, err := c.ListAccounts(t.Context(), &sso.ListAccountsInput{AccessToken: tok.AccessToken})
	wantErr[*ssotypes.TooManyRequestsException](t, err)
	s.Clock.Advance(30 * time.Second)
	if _, err := c.ListAccounts(t.Context(), &sso.ListAccountsInput{AccessToken: tok.AccessToken}); err != nil {
		t.Errorf("after 30 s: %v", err)
	}
}

// isolateAWSEnvironment points the AWS SDK's files at an empty home and
// clears what the environment could add. Tests that call it cannot be
// parallel.
func isolateAWSEnvironment(t *testing.T) string {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, ".aws", "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, ".aws", "credentials"))
	for _, k := range []string{
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSO", "AWS_ENDPOINT_URL_SSO_OIDC",
		"AWS_ENDPOINT_URL_STS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return home
}

// ssoCacheFile is the token cache entry of an sso-session (AWS-WIRE.md
// §6.2), as `aws sso login` writes it.
type ssoCacheFile struct {
	StartURL              string `json:"startUrl"`
	Region                string `json:"region"`
	AccessToken           string `json:"accessToken"`
	ExpiresAt             string `json:"expiresAt"`
	ClientID              string `json:"clientId"`
	ClientSecret          string `json:"clientSecret"`
	RegistrationExpiresAt string `json:"registrationExpiresAt"`
	RefreshToken          string `json:"refreshToken,omitempty"`
}

// TestSSOSessionProfileWithSDK resolves a profile of ~/.aws/config that
// uses an sso-session, with the SDK's own SSO credential provider: the
// cached token (from the device flow) gets role credentials, and an expired
// one is refreshed first. Not parallel: it sets the environment.
func TestSSOSessionProfileWithSDK(t *testing.T) {
	home := isolateAWSEnvironment(t)
	s := servertest.Start(t, servertest.WithConfig(staticEverywhere))
	portalFixture(t, s, 0)
	l, tok := portalLogin(t, s)

	const session = "ssooidc"
	writeFile := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(filepath.Join(home, ".aws", "config"), `[profile dev]
sso_session = `+session+`
sso_account_id = 111122223333
sso_role_name = ReadOnly
region = us-west-2

[sso-session `+session+`]
sso_start_url = `+testStartURL+`
sso_region = us-east-1
sso_registration_scopes = sso:account:access
`)
	sum := sha1.Sum([]byte(session))
	cachePath := filepath.Join(home, ".aws", "sso", "cache", hex.EncodeToString(sum[:])+".json")
	writeCache := func(accessToken string, expiresAt time.Time) {
		t.Helper()
		b, err := json.Marshal(ssoCacheFile{
			StartURL:              testStartURL,
			Region:                "us-east-1",
			AccessToken:           accessToken,
			ExpiresAt:             expiresAt.UTC().Format("2006-01-02T15:04:05Z"),
			ClientID:              aws.ToString(l.reg.ClientId),
			ClientSecret:          aws.ToString(l.reg.ClientSecret),
			RegistrationExpiresAt: time.Unix(l.reg.ClientSecretExpiresAt, 0).UTC().Format("2006-01-02T15:04:05Z"),
			RefreshToken:          aws.ToString(tok.RefreshToken),
		})
		if err != nil {
			t.Fatal(err)
		}
		writeFile(cachePath, string(b))
	}
	t.Setenv("AWS_ENDPOINT_URL_SSO", s.URL)
	t.Setenv("AWS_ENDPOINT_URL_SSO_OIDC", s.URL)
	t.Setenv("AWS_PROFILE", "dev")

	retrieve := func() aws.Credentials {
		t.Helper()
		cfg, err := awsconfig.LoadDefaultConfig(t.Context())
		if err != nil {
			t.Fatalf("LoadDefaultConfig: %v", err)
		}
		if cfg.Region != "us-west-2" {
			t.Errorf("region = %q, want the profile's us-west-2", cfg.Region)
		}
		creds, err := cfg.Credentials.Retrieve(t.Context())
		if err != nil {
			t.Fatalf("Retrieve: %v", err)
		}
		return creds
	}

	writeCache(aws.ToString(tok.AccessToken), time.Now().Add(time.Hour))
	creds := retrieve()
	if creds.AccessKeyID != portalKeyID || creds.SecretAccessKey != portalSecret || creds.SessionToken != portalSession {
		t.Errorf("credentials = %s / %s / %s", creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	}
	if !creds.CanExpire || !creds.Expires.Equal(s.Clock.Now().Add(2*time.Hour)) {
		t.Errorf("expires = %v (can expire %v), want %v", creds.Expires, creds.CanExpire, s.Clock.Now().Add(2*time.Hour))
	}
	if creds.Source != "SSOProvider" {
		t.Errorf("source = %q, want the SDK's SSOProvider", creds.Source)
	}

	// An expired cached token: the SDK refreshes it at the SSO OIDC
	// endpoint, rewrites the cache, and then gets credentials.
	writeCache(aws.ToString(tok.AccessToken), time.Now().Add(-time.Minute))
	if creds := retrieve(); creds.AccessKeyID != portalKeyID {
		t.Errorf("credentials after refresh = %s", creds.AccessKeyID)
	}
	b, err := os.ReadFile(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	var cached ssoCacheFile
	if err := json.Unmarshal(b, &cached); err != nil {
		t.Fatal(err)
	}
	if cached.AccessToken == aws.ToString(tok.AccessToken) || cached.RefreshToken == "" || cached.RefreshToken == aws.ToString(tok.RefreshToken) {
		t.Errorf("cache after refresh holds the old tokens: %s", b)
	}
}

// TestSTSSourceEndToEnd: GetRoleCredentials through the sts source, which
// assumes the role at a local STS stand-in with the server's own AWS
// credentials (from the environment here). Not parallel: it sets the
// environment.
func TestSTSSourceEndToEnd(t *testing.T) {
	isolateAWSEnvironment(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDSSOOIDCSERVER")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "server-secret")
	stsServer := ststest.Start(t)
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.STSEndpoint = stsServer.URL
		c.STSRegion = "eu-west-1"
	}))
	portalFixture(t, s, 0)
	_, tok := portalLogin(t, s)
	c := portalClient(t, s.URL)

	out, err := c.GetRoleCredentials(t.Context(), &sso.GetRoleCredentialsInput{AccessToken: tok.AccessToken, AccountId: aws.String("111122223333"), RoleName: aws.String("ReadOnly")})
	if err != nil {
		t.Fatalf("GetRoleCredentials: %v", err)
	}
	rc := out.RoleCredentials
	if aws.ToString(rc.AccessKeyId) != ststest.AccessKeyID || aws.ToString(rc.SecretAccessKey) != ststest.SecretAccessKey ||
		aws.ToString(rc.SessionToken) != ststest.SessionToken || rc.Expiration != ststest.Expiry.Add(2*time.Hour).UnixMilli() {
		t.Errorf("credentials = %+v, want the stand-in's, expiring in 2 hours", rc)
	}
	reqs := stsServer.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d STS requests, want 1", len(reqs))
	}
	for name, want := range map[string]string{
		"RoleArn":         "arn:aws:iam::111122223333:role/ReadOnly",
		"RoleSessionName": testUser,
		"DurationSeconds": "7200",
	} {
		if got := reqs[0].Form.Get(name); got != want {
			t.Errorf("AssumeRole %s = %q, want %q", name, got, want)
		}
	}
	if m := ststest.SigV4.FindStringSubmatch(reqs[0].Authorization); m == nil || m[1] != "AKIDSSOOIDCSERVER" || m[3] != "eu-west-1" {
		t.Errorf("AssumeRole signed as %q, want the server's key for eu-west-1", reqs[0].Authorization)
	}

	// STS refusing is a server-side failure, reported without STS's words.
	stsServer.Deny = true
	_, err = c.GetRoleCredentials(t.Context(), &sso.GetRoleCredentialsInput{AccessToken: tok.AccessToken, AccountId: aws.String("111122223333"), RoleName: aws.String("Admin")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InternalServerException" || strings.Contains(ae.ErrorMessage(), "AccessDenied") {
		t.Errorf("STS refusal: error %v, want InternalServerException without STS's message", err)
	}
}

// syncWriter collects log output from concurrent handlers.
type syncWriter struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestCredentialsAreAudited: each credential issued is one audit record
// with the user, client, account, role, source address and expiry, and no
// secret is logged anywhere.
func TestCredentialsAreAudited(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfg := config.Default()
	cfg.DB = filepath.Join(t.TempDir(), "ssooidc.db")
	cfg.Issuer = "http://sso.test"
	cfg.PortalStaticAccounts = []string{"*"}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.New(servertest.TestKey)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{}
	now := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	srv, err := server.New(server.Options{Config: cfg, Store: st, Keys: keys, Now: func() time.Time { return now },
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	u, err := srv.Directory().AddUser(ctx, testUser, "", "", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	acc := portalAccounts(t, st)
	if _, err := acc.AddAccount(ctx, "111122223333", "Production", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Assign(ctx, accounts.Principal{Type: store.PrincipalUser, Name: testUser}, "111122223333", "ReadOnly", 0); err != nil {
		t.Fatal(err)
	}
	if err := acc.SetStaticCredentials(ctx, "111122223333", "", portalKeyID, portalSecret, portalSession); err != nil {
		t.Fatal(err)
	}

	oidc := ssooidc.New(ssooidc.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), Retryer: aws.NopRetryer{}})
	reg, err := oidc.RegisterClient(ctx, &ssooidc.RegisterClientInput{ClientName: aws.String("audit"), ClientType: aws.String("public"), Scopes: []string{"sso:account:access"}})
	if err != nil {
		t.Fatal(err)
	}
	start, err := oidc.StartDeviceAuthorization(ctx, &ssooidc.StartDeviceAuthorizationInput{ClientId: reg.ClientId, ClientSecret: reg.ClientSecret, StartUrl: aws.String("http://sso.test/start")})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Engine().DecideDevice(ctx, aws.ToString(start.UserCode), u.ID, true); err != nil {
		t.Fatal(err)
	}
	tok, err := oidc.CreateToken(ctx, &ssooidc.CreateTokenInput{ClientId: reg.ClientId, ClientSecret: reg.ClientSecret,
		GrantType: aws.String("urn:ietf:params:oauth:grant-type:device_code"), DeviceCode: start.DeviceCode})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := portalClient(t, ts.URL).GetRoleCredentials(ctx, &sso.GetRoleCredentialsInput{
		AccessToken: tok.AccessToken, AccountId: aws.String("111122223333"), RoleName: aws.String("ReadOnly")}); err != nil {
		t.Fatal(err)
	}

	var records []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if rec["event"] == "credentials.issued" {
			records = append(records, rec)
		}
	}
	if len(records) != 1 {
		t.Fatalf("%d credentials.issued records, want 1; log:\n%s", len(records), logs)
	}
	rec := records[0]
	wantDetail := "account=111122223333 role=ReadOnly source=static access_key_id=" + portalKeyID + " expires=2026-11-28T10:30:00Z"
	if rec["user_id"] != u.ID || rec["client_id"] != aws.ToString(reg.ClientId) || rec["client_ip"] != "127.0.0.1" || rec["detail"] != wantDetail {
		t.Errorf("audit record = %v, want user %s, client %s, client_ip 127.0.0.1, detail %q", rec, u.ID, aws.ToString(reg.ClientId), wantDetail)
	}
	for _, secretValue := range []string{portalSecret, portalSession, aws.ToString(tok.AccessToken)} {
		if strings.Contains(logs.String(), secretValue) {
			t.Errorf("the log holds a secret (%.12s…)", secretValue)
		}
	}
}
