package awsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Golden wire tests: exact status, headers and body for every operation's
// success and every error reachable from it (AWS-WIRE.md §2, §3.4).

const grantDevice = "urn:ietf:params:oauth:grant-type:device_code"

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// wantErrorResponse checks an AWS error answer: status, exactly the three
// headers, and the whole body.
func wantErrorResponse(t *testing.T, rec *httptest.ResponseRecorder, status int, errType, body string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d", rec.Code, status)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := rec.Header().Values("x-amzn-ErrorType"); !slices.Equal(got, []string{errType}) {
		t.Errorf("x-amzn-ErrorType = %q, want [%q]", got, errType)
	}
	if got := rec.Header().Get("x-amzn-RequestId"); !uuidV4.MatchString(got) {
		t.Errorf("x-amzn-RequestId = %q, want a UUID", got)
	}
	keys := slices.Sorted(maps.Keys(rec.Header()))
	if want := []string{"Content-Type", "X-Amzn-Errortype", "X-Amzn-Requestid"}; !slices.Equal(keys, want) {
		t.Errorf("header names = %q, want %q", keys, want)
	}
	if diff := cmp.Diff(body, rec.Body.String()); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
}

// errBody is the exact error body for an RFC code and description.
func errBody(code, description string) string {
	b, err := json.Marshal(map[string]string{"error": code, "error_description": description})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// wantSuccess checks a 200 answer's headers and its body against want,
// where each member named in random must match its pattern and is then
// compared as the placeholder "<member>". Numbers compare as json.Number
// text, so an integer rendered as 6e2 or 600.0 fails.
func wantSuccess(t *testing.T, rec *httptest.ResponseRecorder, random map[string]*regexp.Regexp, want map[string]any) map[string]string {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := rec.Header().Get("x-amzn-RequestId"); !uuidV4.MatchString(got) {
		t.Errorf("x-amzn-RequestId = %q, want a UUID", got)
	}
	if got := rec.Header().Values("x-amzn-ErrorType"); got != nil {
		t.Errorf("x-amzn-ErrorType = %q on a success, want none", got)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.UseNumber()
	var got map[string]any
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	values := map[string]string{}
	for name, re := range random {
		s, ok := got[name].(string)
		if !ok || !re.MatchString(s) {
			t.Errorf("%s = %#v, want a string matching %s", name, got[name], re)
			continue
		}
		values[name] = s
		got[name] = "<" + name + ">"
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s\nbody: %s", diff, rec.Body)
	}
	return values
}

func num(n int64) json.Number { return json.Number(fmt.Sprint(n)) }

var (
	reClientID     = regexp.MustCompile(`^[A-Za-z0-9_-]{24}$`)
	reClientSecret = regexp.MustCompile(`^sso_cs_[A-Za-z0-9_-]{43}$`)
	reDeviceCode   = regexp.MustCompile(`^sso_dc_[A-Za-z0-9_-]{54}$`)
	reUserCode     = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)
	reVerification = regexp.MustCompile(`^http://127\.0\.0\.1:8080/device\?user_code=[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)
	reAccessToken  = regexp.MustCompile(`^sso_at_[A-Za-z0-9_-]{54}$`)
	reRefreshToken = regexp.MustCompile(`^sso_rt_[A-Za-z0-9_-]{54}$`)
)

var tokenRandom = map[string]*regexp.Regexp{"accessToken": reAccessToken, "refreshToken": reRefreshToken}

func tokenWant(expiresIn int64) map[string]any {
	return map[string]any{"accessToken": "<accessToken>", "tokenType": "Bearer", "expiresIn": num(expiresIn), "refreshToken": "<refreshToken>"}
}

func TestRegisterClientSuccess(t *testing.T) {
	t.Parallel()
	registered := map[string]any{
		"clientId":              "<clientId>",
		"clientSecret":          "<clientSecret>",
		"clientIdIssuedAt":      num(t0.Unix()),
		"clientSecretExpiresAt": num(t0.Add(90 * 24 * time.Hour).Unix()),
		"authorizationEndpoint": testIssuer + "/authorize",
	}
	random := map[string]*regexp.Regexp{"clientId": reClientID, "clientSecret": reClientSecret}
	for _, tc := range []struct{ name, body string }{
		{"legacy profile", `{"clientName": "botocore-client-1610640854", "clientType": "public"}`},
		{"sso-session with scopes", `{"clientName":"botocore-client-my-sso","clientType":"public","scopes":["sso:account:access"]}`},
		{"PKCE", `{"clientName":"botocore-client-my-sso","clientType":"public","grantTypes":["authorization_code","refresh_token"],"redirectUris":["http://127.0.0.1/oauth/callback"],"issuerUrl":"` + testStartURL + `","scopes":["sso:account:access"]}`},
		{"unknown members ignored", `{"clientName":"c","clientType":"public","futureMember":{"a":[1,null,"x"]},"other":null,"n":1.5e300}`},
		{"null optional members", `{"clientName":"c","clientType":"public","scopes":null,"redirectUris":null,"grantTypes":null,"issuerUrl":null,"entitledApplicationArn":null}`},
		{"empty lists", `{"clientName":"c","clientType":"public","scopes":[],"grantTypes":[],"redirectUris":[]}`},
		{"duplicate key, last wins", `{"clientName":5,"clientName":"c","clientType":"public"}`},
		{"escapes and unicode", `{"clientName":"caf\u00e9 \"quoted\" \ud83d\ude00 näive","clientType":"\u0070ublic"}`},
		{"entitledApplicationArn accepted", `{"clientName":"c","clientType":"public","entitledApplicationArn":"arn:aws:sso::123456789012:application/ssoins-1/apl-1"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			rec := h.post("/client/register", tc.body)
			wantSuccess(t, rec, random, registered)
		})
	}
}

func TestRegisterClientNoContentType(t *testing.T) {
	// botocore before late 2021 sent no Content-Type; the body is JSON anyway.
	t.Parallel()
	h := newHarness(t)
	req := httptest.NewRequest(http.MethodPost, "/client/register", strings.NewReader(`{"clientName":"c","clientType":"public"}`))
	rec := httptest.NewRecorder()
	h.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
}

func TestStartDeviceAuthorizationSuccess(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.register()
	rec := h.post("/device_authorization", c.startBody())
	got := wantSuccess(t, rec, map[string]*regexp.Regexp{
		"deviceCode":              reDeviceCode,
		"userCode":                reUserCode,
		"verificationUriComplete": reVerification,
	}, map[string]any{
		"deviceCode":              "<deviceCode>",
		"userCode":                "<userCode>",
		"verificationUri":         testIssuer + "/device",
		"verificationUriComplete": "<verificationUriComplete>",
		"expiresIn":               num(600),
		"interval":                num(1),
	})
	if want := testIssuer + "/device?user_code=" + got["userCode"]; got["verificationUriComplete"] != want {
		t.Errorf("verificationUriComplete = %q, want %q", got["verificationUriComplete"], want)
	}
}

func TestStartDeviceAuthorizationIntervalRoundsUp(t *testing.T) {
	// A sub-second interval must not reach clients as 0 (a busy loop).
	t.Parallel()
	h := newHarnessConfig(t, oauth.Config{Issuer: testIssuer, DeviceInterval: 1500 * time.Millisecond, DeviceCodeLifetime: 300 * time.Second})
	c := h.register()
	var d struct{ ExpiresIn, Interval int }
	h.mustOK(h.post("/device_authorization", c.startBody()), &d)
	if d.ExpiresIn != 300 || d.Interval != 2 {
		t.Errorf("expiresIn, interval = %d, %d; want 300, 2", d.ExpiresIn, d.Interval)
	}
}

func TestCreateTokenSuccess(t *testing.T) {
	t.Parallel()

	t.Run("device code", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		c := h.register()
		d := h.start(c)
		h.decide(d.UserCode, h.user("alice").ID, true)
		wantSuccess(t, h.poll(c, d.DeviceCode), tokenRandom, tokenWant(3600))
	})

	t.Run("device code, hyphenated grant type of the AWS docs", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		c := h.register()
		d := h.start(c)
		h.decide(d.UserCode, h.user("alice").ID, true)
		body := strings.Replace(c.pollBody(d.DeviceCode), "device_code", "device-code", 1)
		wantSuccess(t, h.post("/token", body), tokenRandom, tokenWant(3600))
	})

	t.Run("refresh rotates and always returns a refresh token", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		c := h.register()
		tk := h.login(c)
		h.clock.Advance(30 * time.Minute)
		got := wantSuccess(t, h.post("/token", c.refreshBody(tk.RefreshToken)), tokenRandom, tokenWant(3600))
		if got["refreshToken"] == tk.RefreshToken || got["accessToken"] == tk.AccessToken {
			t.Errorf("refresh returned the old token pair, want a rotated one")
		}
		// The session (8 h from approval) caps the access token.
		h.clock.Advance(7 * time.Hour)
		wantSuccess(t, h.post("/token", c.refreshBody(got["refreshToken"])), tokenRandom, tokenWant(1800))
	})

	t.Run("refresh reuse within the grace period", func(t *testing.T) {
		// Two processes refreshing from one cached token at once both win.
		t.Parallel()
		h := newHarness(t)
		c := h.register()
		tk := h.login(c)
		wantSuccess(t, h.post("/token", c.refreshBody(tk.RefreshToken)), tokenRandom, tokenWant(3600))
		h.clock.Advance(5 * time.Second)
		wantSuccess(t, h.post("/token", c.refreshBody(tk.RefreshToken)), tokenRandom, tokenWant(3600))
	})

	t.Run("authorization code with PKCE", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		c := h.registerPKCE()
		code, verifier := h.authCode(c, h.user("alice").ID)
		body := jsonOf(t, map[string]any{
			"grantType": "authorization_code", "clientId": c.id, "clientSecret": c.secret,
			"redirectUri": pkceRedirect, "codeVerifier": verifier, "code": code,
		})
		wantSuccess(t, h.post("/token", body), tokenRandom, tokenWant(3600))
	})

	t.Run("scope member accepted and ignored", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		c := h.register()
		tk := h.login(c)
		body := strings.TrimSuffix(c.refreshBody(tk.RefreshToken), "}") + `,"scope":["sso:account:access","other"]}`
		wantSuccess(t, h.post("/token", body), tokenRandom, tokenWant(3600))
	})
}

const pkceRedirect = "http://127.0.0.1:43123/oauth/callback"

// authCode runs the browser half of the PKCE flow in the engine and returns
// a fresh authorization code and its verifier.
func (h *harness) authCode(c client, userID string) (code, verifier string) {
	h.tb.Helper()
	verifier = strings.Repeat("v", 64)
	ctx := context.Background()
	a, err := h.engine.CheckAuthorize(ctx, oauth.AuthorizeRequest{
		ResponseType:        "code",
		ClientID:            c.id,
		RedirectURI:         pkceRedirect,
		State:               "0b3c5a1e-2b8f-4c43-9a55-6e7c1d2a9f00",
		CodeChallenge:       s256(verifier),
		CodeChallengeMethod: "S256",
	})
	if err != nil {
		h.tb.Fatalf("CheckAuthorize: %v", err)
	}
	code, err = h.engine.IssueAuthCode(ctx, a, userID, h.clock.Now())
	if err != nil {
		h.tb.Fatalf("IssueAuthCode: %v", err)
	}
	return code, verifier
}

func TestBodyAtTheLimit(t *testing.T) {
	// Exactly maxBodyBytes is accepted; one more byte is "too large".
	t.Parallel()
	h := newHarness(t)
	prefix, suffix := `{"clientName":"c","clientType":"public","pad":"`, `"}`
	body := prefix + strings.Repeat("a", maxBodyBytes-len(prefix)-len(suffix)) + suffix
	if rec := h.post("/client/register", body); rec.Code != http.StatusOK {
		t.Errorf("%d-byte body: status %d, want 200; body %s", len(body), rec.Code, rec.Body)
	}
	body = prefix + strings.Repeat("a", maxBodyBytes-len(prefix)-len(suffix)+1) + suffix
	wantErrorResponse(t, h.post("/client/register", body), 400, "InvalidRequestException", errBody("invalid_request", "Request body is too large."))
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := reqinfo.With(context.Background(), reqinfo.Info{ID: "req-from-middleware", ClientIP: "203.0.113.9"})
	for _, tc := range []struct{ name, path, body string }{
		{"success", "/client/register", `{"clientName":"c","clientType":"public"}`},
		{"error", "/token", `{}`},
	} {
		if got := h.postContext(ctx, tc.path, tc.body).Header().Get("x-amzn-RequestId"); got != "req-from-middleware" {
			t.Errorf("%s with middleware id: x-amzn-RequestId = %q, want req-from-middleware", tc.name, got)
		}
		a := h.post(tc.path, tc.body).Header().Get("x-amzn-RequestId")
		b := h.post(tc.path, tc.body).Header().Get("x-amzn-RequestId")
		if !uuidV4.MatchString(a) || a == b {
			t.Errorf("%s without middleware: request ids %q, %q; want two distinct UUIDs", tc.name, a, b)
		}
	}
}

func TestStartDeviceAuthorizationRecordsRequester(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		info   *reqinfo.Info
		wantIP string
	}{
		{"middleware client IP", &reqinfo.Info{ID: "r1", ClientIP: "203.0.113.9"}, "203.0.113.9"},
		{"peer address", nil, "192.0.2.1"}, // httptest.NewRequest's RemoteAddr
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			c := h.register()
			ctx := context.Background()
			if tc.info != nil {
				ctx = reqinfo.With(ctx, *tc.info)
			}
			var d deviceAuth
			h.mustOK(h.postContext(ctx, "/device_authorization", c.startBody()), &d)
			p, err := h.engine.DevicePrompt(ctx, d.UserCode)
			if err != nil {
				t.Fatalf("DevicePrompt: %v", err)
			}
			if p.RequestIP != tc.wantIP || p.RequestUserAgent != "aws-cli/2.9.19 test" {
				t.Errorf("RequestIP, RequestUserAgent = %q, %q; want %q, %q", p.RequestIP, p.RequestUserAgent, tc.wantIP, "aws-cli/2.9.19 test")
			}
		})
	}
}

func TestMethodsAndPaths(t *testing.T) {
	// Only POST is registered; the mux answers the rest (the server's
	// business), and never with an AWS error shape from this package.
	t.Parallel()
	h := newHarness(t)
	for _, path := range []string{"/client/register", "/device_authorization", "/token"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		rec := httptest.NewRecorder()
		h.mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: status %d, want 405", path, rec.Code)
		}
	}
}

// TestStateIntactAfterBadInput: a request the API or engine rejects before
// the poll is recorded leaves the grant exactly as it was, so garbage or
// another client's polls never push a legitimate client into slow_down.
func TestStateIntactAfterBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, other := h.register(), h.register()
	d := h.start(c)
	if rec := h.poll(c, d.DeviceCode); rec.Code != 400 || rec.Header().Get("x-amzn-ErrorType") != "AuthorizationPendingException" {
		t.Fatalf("first poll: %d %s", rec.Code, rec.Body)
	}
	before := h.grant(d.UserCode)

	bad := []string{
		``,
		`{`,
		`null`,
		`{"clientId":"` + c.id + `","deviceCode":"` + d.DeviceCode + `"}`,
		`{"clientId":"` + c.id + `","clientSecret":5,"grantType":"` + grantDevice + `","deviceCode":"` + d.DeviceCode + `"}`,
		`{"clientId":"` + c.id + `","clientSecret":"` + c.secret + `","grantType":"` + grantDevice + `","deviceCode":["` + d.DeviceCode + `"]}`,
		client{c.id, c.secret + "x"}.pollBody(d.DeviceCode), // wrong secret
		client{c.id, ""}.pollBody(d.DeviceCode),             // no secret
		other.pollBody(d.DeviceCode),                        // another client
		strings.Replace(c.pollBody(d.DeviceCode), grantDevice, "password", 1),
		`{"clientId":"` + c.id + `","clientSecret":"` + c.secret + `","grantType":"` + grantDevice + `","deviceCode":"` + d.DeviceCode + `"` + strings.Repeat(" ", maxBodyBytes) + `}`,
	}
	for _, body := range bad {
		for range 3 {
			if rec := h.post("/token", body); rec.Code == http.StatusOK || rec.Header().Get("x-amzn-ErrorType") == "AuthorizationPendingException" {
				t.Fatalf("bad poll %.80q answered %d %s", body, rec.Code, rec.Body)
			}
		}
	}
	h.post("/token?aws_iam=t", c.pollBody(d.DeviceCode))

	if diff := cmp.Diff(before, h.grant(d.UserCode)); diff != "" {
		t.Errorf("grant changed by rejected requests (-before +after):\n%s", diff)
	}
	// Only one poll has counted: the next is the second of the burst.
	if rec := h.poll(c, d.DeviceCode); rec.Header().Get("x-amzn-ErrorType") != "AuthorizationPendingException" {
		t.Errorf("second real poll: %d %s, want AuthorizationPendingException", rec.Code, rec.Body)
	}
	// The grant can still be approved and redeemed by its client.
	h.decide(d.UserCode, h.user("alice").ID, true)
	wantSuccess(t, h.poll(c, d.DeviceCode), tokenRandom, tokenWant(3600))
	if g := h.grant(d.UserCode); g.Status != store.DeviceRedeemed {
		t.Errorf("grant status = %s, want %s", g.Status, store.DeviceRedeemed)
	}
}

// TestLogs: internal errors log their cause with the request id; nothing
// secret is ever logged; pending polls log at Debug only.
func TestLogs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.register()
	d := h.start(c)
	h.poll(c, d.DeviceCode)
	h.poll(c, d.DeviceCode)
	h.poll(c, d.DeviceCode) // slow_down
	h.post("/token", client{c.id, c.secret + "x"}.pollBody(d.DeviceCode))
	h.decide(d.UserCode, h.user("alice").ID, true)
	var tk tokens
	h.mustOK(h.poll(c, d.DeviceCode), &tk)
	h.post("/token", c.refreshBody(tk.RefreshToken))

	id := reqinfo.NewID()
	ctx := reqinfo.With(context.Background(), reqinfo.Info{ID: id})
	h.store.Close()
	wantErrorResponse(t, h.postContext(ctx, "/token", c.pollBody(d.DeviceCode)), 500, "InternalServerException", errBody("server_error", "An internal error occurred."))

	logs := h.logs.String()
	for _, s := range []string{c.secret, d.DeviceCode, d.UserCode, tk.AccessToken, tk.RefreshToken} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain a secret %q:\n%s", s, logs)
		}
	}
	var internal, pending string
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "request_id="+id) {
			internal = line
		}
		if strings.Contains(line, "AuthorizationPendingException") || strings.Contains(line, "SlowDownException") {
			pending = line
			if !strings.Contains(line, "level=DEBUG") {
				t.Errorf("pending poll logged above Debug: %s", line)
			}
		}
	}
	if pending == "" {
		t.Errorf("no Debug record for pending polls:\n%s", logs)
	}
	// The client's registration was read before the store closed and is
	// cached, so the first failing store call is the poll.
	for _, want := range []string{"level=ERROR", "operation=CreateToken", "client_id=" + c.id, "error_type=InternalServerException", "err=\"poll device grant: "} {
		if !strings.Contains(internal, want) {
			t.Errorf("internal error record %q lacks %q", internal, want)
		}
	}
	if !strings.Contains(logs, "error_type=InvalidClientException") || !strings.Contains(logs, "level=INFO") {
		t.Errorf("rejected request not logged at Info:\n%s", logs)
	}
}
