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
	reDeviceCode   = regexp.MustCompile(`^sso_dc_[A-Za-z0-9_-]{43}$`)
	reUserCode     = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)
	reVerification = regexp.MustCompile(`^http://127\.0\.0\.1:8080/device\?user_code=[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)
	reAccessToken  = regexp.MustCompile(`^sso_at_[A-Za-z0-9_-]{43}$`)
	reRefreshToken = regexp.MustCompile(`^sso_rt_[A-Za-z0-9_-]{43}$`)
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

// errCase is one golden error: setup may drive earlier requests on a fresh
// harness and returns the request whose answer is checked.
type errCase struct {
	name    string
	setup   func(t *testing.T, h *harness) (path, body string)
	status  int
	errType string
	body    string
}

func static(path, body string) func(*testing.T, *harness) (string, string) {
	return func(*testing.T, *harness) (string, string) { return path, body }
}

func invalidRequest(name string, setup func(*testing.T, *harness) (string, string), description string) errCase {
	return errCase{name, setup, 400, "InvalidRequestException", errBody("invalid_request", description)}
}

// operation describes one operation's members, for generated cases.
type operation struct {
	path     string
	valid    map[string]any // a body that passes decoding
	required []string
	strings  []string // optional string members
	lists    []string // list<string> members
}

var operations = []operation{
	{
		path:     "/client/register",
		valid:    map[string]any{"clientName": "c", "clientType": "public"},
		required: []string{"clientName", "clientType"},
		strings:  []string{"issuerUrl", "entitledApplicationArn"},
		lists:    []string{"scopes", "redirectUris", "grantTypes"},
	},
	{
		path:     "/device_authorization",
		valid:    map[string]any{"clientId": "c", "clientSecret": "s", "startUrl": testStartURL},
		required: []string{"clientId", "clientSecret", "startUrl"},
	},
	{
		path:     "/token",
		valid:    map[string]any{"clientId": "c", "clientSecret": "s", "grantType": grantDevice, "deviceCode": "d"},
		required: []string{"clientId", "clientSecret", "grantType"},
		strings:  []string{"deviceCode", "code", "refreshToken", "redirectUri", "codeVerifier"},
		lists:    []string{"scope"},
	},
}

// with returns a copy of m with member set to v, or deleted when v is
// the absent marker.
func with(m map[string]any, member string, v any) map[string]any {
	out := maps.Clone(m)
	if v == absentMember {
		delete(out, member)
	} else {
		out[member] = v
	}
	return out
}

var absentMember = new(int)

// decodingCases are the errors every operation answers before the engine
// runs: body shape, required members, member types.
func decodingCases(t *testing.T) []errCase {
	var cases []errCase
	tooLarge := `{"clientName":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	for _, op := range operations {
		for _, b := range []struct{ name, body, description string }{
			{"empty body", "", "Request body is empty; expected a JSON object."},
			{"white space body", " \r\n\t ", "Request body is empty; expected a JSON object."},
			{"null body", "null", "Request body must be a JSON object."},
			{"array body", `[{"clientId":"c"}]`, "Request body must be a JSON object."},
			{"string body", `"clientId"`, "Request body must be a JSON object."},
			{"number body", `42`, "Request body must be a JSON object."},
			{"truncated JSON", `{"clientId":"c"`, "Request body is not valid JSON."},
			{"missing value", `{"clientId":}`, "Request body is not valid JSON."},
			{"trailing garbage", `{"clientId":"c"} x`, "Request body is not valid JSON."},
			{"two objects", `{} {}`, "Request body is not valid JSON."},
			{"form encoded", "client_id=c&grant_type=refresh_token", "Request body is not valid JSON."},
			{"single quotes", `{'clientId':'c'}`, "Request body is not valid JSON."},
			{"byte order mark", "\ufeff{}", "Request body is not valid JSON."},
			{"too large", tooLarge, "Request body is too large."},
		} {
			cases = append(cases, invalidRequest(op.path+": "+b.name, static(op.path, b.body), b.description))
		}
		for _, m := range op.required {
			for _, v := range []struct {
				name  string
				value any
			}{{"missing", absentMember}, {"null", nil}, {"empty", ""}} {
				body := jsonOf(t, with(op.valid, m, v.value))
				cases = append(cases, invalidRequest(fmt.Sprintf("%s: %s %s", op.path, m, v.name), static(op.path, body), m+" is required."))
			}
		}
		for _, m := range append(slices.Clone(op.required), op.strings...) {
			for _, v := range []any{42, 1.5, true, false, map[string]any{}, []string{"a"}, []any{}} {
				body := jsonOf(t, with(op.valid, m, v))
				cases = append(cases, invalidRequest(fmt.Sprintf("%s: %s is %s", op.path, m, jsonOf(t, v)), static(op.path, body), m+" must be a string."))
			}
		}
		for _, m := range op.lists {
			for _, v := range []any{"a", 42, true, map[string]any{}, []any{1}, []any{nil}, []any{"a", 2}, []any{[]string{"a"}}, []any{map[string]any{}}} {
				body := jsonOf(t, with(op.valid, m, v))
				cases = append(cases, invalidRequest(fmt.Sprintf("%s: %s is %s", op.path, m, jsonOf(t, v)), static(op.path, body), m+" must be a list of strings."))
			}
		}
	}
	// The first problem in model member order is the one reported.
	cases = append(cases,
		invalidRequest("/token: first problem in model order", static("/token", `{"grantType":5,"clientSecret":null}`), "clientId is required."),
		invalidRequest("/token: wrong type before later missing member", static("/token", `{"clientId":["c"]}`), "clientId must be a string."),
	)
	return cases
}

// engineCases are the errors the engine decides, each reached through the
// API as a client would.
func engineCases() []errCase {
	tok := "/token"
	pending := errCase{status: 400, errType: "AuthorizationPendingException", body: errBody("authorization_pending", "Authorization is still pending.")}
	invalidClient := func(name string, setup func(*testing.T, *harness) (string, string), description string) errCase {
		return errCase{name, setup, 401, "InvalidClientException", errBody("invalid_client", description)}
	}
	invalidGrant := func(name string, setup func(*testing.T, *harness) (string, string), description string) errCase {
		return errCase{name, setup, 400, "InvalidGrantException", errBody("invalid_grant", description)}
	}
	unauthorized := func(name string, setup func(*testing.T, *harness) (string, string), description string) errCase {
		return errCase{name, setup, 400, "UnauthorizedClientException", errBody("unauthorized_client", description)}
	}
	const unknownClient = "Invalid client: unknown client id."
	const wrongSecret = "Invalid client: wrong client secret."
	const expiredClient = "Invalid client: the registration has expired; register again."
	const badRefresh = "Invalid refresh token provided."
	wrong := func(c client) client { return client{c.id, c.secret + "x"} }

	return []errCase{
		// ---- RegisterClient ----
		{"RegisterClient: clientType not public", static("/client/register", `{"clientName":"c","clientType":"confidential"}`),
			400, "InvalidClientMetadataException", errBody("invalid_client_metadata", "clientType must be public.")},
		invalidRequest("RegisterClient: blank clientName", static("/client/register", `{"clientName":"   ","clientType":"public"}`), "clientName must not be empty."),
		{"RegisterClient: invalid scope", static("/client/register", `{"clientName":"c","clientType":"public","scopes":["a b"]}`),
			400, "InvalidScopeException", errBody("invalid_scope", `Scope "a b" is not valid.`)},
		{"RegisterClient: unsupported grant type", static("/client/register", `{"clientName":"c","clientType":"public","grantTypes":["password"]}`),
			400, "UnsupportedGrantTypeException", errBody("unsupported_grant_type", `Grant type "password" is not supported.`)},
		{"RegisterClient: redirect URI not loopback or https", static("/client/register", `{"clientName":"c","clientType":"public","grantTypes":["authorization_code"],"redirectUris":["http://example.com/cb"]}`),
			400, "InvalidRedirectUriException", errBody("invalid_redirect_uri", `Redirect URI "http://example.com/cb" must be https, or http on a loopback address, without a fragment.`)},
		{"RegisterClient: authorization_code without redirect URI", static("/client/register", `{"clientName":"c","clientType":"public","grantTypes":["authorization_code"]}`),
			400, "InvalidRedirectUriException", errBody("invalid_redirect_uri", "The authorization_code grant needs at least one redirect URI.")},
		{"RegisterClient: issuerUrl not served", static("/client/register", `{"clientName":"c","clientType":"public","issuerUrl":"https://evil.example/start"}`),
			400, "InvalidClientMetadataException", errBody("invalid_client_metadata", "issuerUrl is not a start URL this instance serves.")},
		{"RegisterClient: store failure", func(t *testing.T, h *harness) (string, string) {
			h.store.Close()
			return "/client/register", `{"clientName":"c","clientType":"public"}`
		}, 500, "InternalServerException", errBody("server_error", "An internal error occurred.")},

		// ---- StartDeviceAuthorization ----
		invalidClient("StartDeviceAuthorization: unknown client", func(t *testing.T, h *harness) (string, string) {
			return "/device_authorization", client{"no-such-client", "sso_cs_x"}.startBody()
		}, unknownClient),
		invalidClient("StartDeviceAuthorization: wrong secret", func(t *testing.T, h *harness) (string, string) {
			return "/device_authorization", wrong(h.register()).startBody()
		}, wrongSecret),
		invalidClient("StartDeviceAuthorization: expired registration", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			h.clock.Advance(91 * 24 * time.Hour)
			return "/device_authorization", c.startBody()
		}, expiredClient),
		invalidClient("StartDeviceAuthorization: registration expires exactly at clientSecretExpiresAt", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			h.clock.Advance(90 * 24 * time.Hour)
			return "/device_authorization", c.startBody()
		}, expiredClient),
		unauthorized("StartDeviceAuthorization: client registered for PKCE only", func(t *testing.T, h *harness) (string, string) {
			return "/device_authorization", h.registerPKCE().startBody()
		}, "This client is not registered for the device code grant."),
		invalidRequest("StartDeviceAuthorization: startUrl not served", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			return "/device_authorization", strings.Replace(c.startBody(), testStartURL, "https://d-0000000000.awsapps.com/start", 1)
		}, "startUrl is not a start URL this instance serves."),
		{"StartDeviceAuthorization: store failure", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			h.store.Close()
			return "/device_authorization", c.startBody()
		}, 500, "InternalServerException", errBody("server_error", "An internal error occurred.")},

		// ---- CreateToken: any grant ----
		invalidRequest("CreateTokenWithIAM", static("/token?aws_iam=t", `{"clientId":"arn:aws:sso::1:application/a","grantType":"authorization_code","code":"c"}`),
			"CreateTokenWithIAM is not supported by this server."),
		invalidRequest("CreateTokenWithIAM with an empty body", static("/token?aws_iam=t", ``), "CreateTokenWithIAM is not supported by this server."),
		{"CreateToken: unsupported grant type", static(tok, `{"clientId":"c","clientSecret":"s","grantType":"password"}`),
			400, "UnsupportedGrantTypeException", errBody("unsupported_grant_type", `Grant type "password" is not supported.`)},
		{"CreateToken: jwt-bearer (CreateTokenWithIAM only)", static(tok, `{"clientId":"c","clientSecret":"s","grantType":"urn:ietf:params:oauth:grant-type:jwt-bearer"}`),
			400, "UnsupportedGrantTypeException", errBody("unsupported_grant_type", `Grant type "urn:ietf:params:oauth:grant-type:jwt-bearer" is not supported.`)},
		{"CreateToken: store failure", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			d := h.start(c)
			h.store.Close()
			return tok, c.pollBody(d.DeviceCode)
		}, 500, "InternalServerException", errBody("server_error", "An internal error occurred.")},

		// ---- CreateToken: device code ----
		invalidRequest("CreateToken device: deviceCode missing", func(t *testing.T, h *harness) (string, string) {
			return tok, h.register().pollBody("")
		}, "deviceCode is required for the device code grant."),
		invalidClient("CreateToken device: unknown client", static(tok, client{"no-such-client", "s"}.pollBody("sso_dc_x")), unknownClient),
		invalidClient("CreateToken device: wrong secret", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			return tok, wrong(c).pollBody(h.start(c).DeviceCode)
		}, wrongSecret),
		invalidClient("CreateToken device: expired registration", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			d := h.start(c)
			h.clock.Advance(91 * 24 * time.Hour)
			return tok, c.pollBody(d.DeviceCode)
		}, expiredClient),
		withSetup(pending, "CreateToken device: pending", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			return tok, c.pollBody(h.start(c).DeviceCode)
		}),
		withSetup(pending, "CreateToken device: second back-to-back poll still pending", func(t *testing.T, h *harness) (string, string) {
			// The CLI polls twice before its first sleep.
			c := h.register()
			d := h.start(c)
			h.poll(c, d.DeviceCode)
			return tok, c.pollBody(d.DeviceCode)
		}),
		{"CreateToken device: slow_down on the third poll within the interval", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			d := h.start(c)
			h.poll(c, d.DeviceCode)
			h.poll(c, d.DeviceCode)
			return tok, c.pollBody(d.DeviceCode)
		}, 400, "SlowDownException", errBody("slow_down", "Client is polling too fast; the interval is now 6 seconds.")},
		withSetup(pending, "CreateToken device: polling at the interval is not slow_down", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			d := h.start(c)
			for range 5 {
				h.poll(c, d.DeviceCode)
				h.clock.Advance(time.Second)
			}
			return tok, c.pollBody(d.DeviceCode)
		}),
		{"CreateToken device: denied", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			d := h.start(c)
			h.decide(d.UserCode, h.user("alice").ID, false)
			return tok, c.pollBody(d.DeviceCode)
		}, 400, "AccessDeniedException", errBody("access_denied", "The request was denied.")},
		{"CreateToken device: expired device code", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			d := h.start(c)
			h.clock.Advance(600 * time.Second)
			return tok, c.pollBody(d.DeviceCode)
		}, 400, "ExpiredTokenException", errBody("expired_token", "The device code has expired.")},
		{"CreateToken device: approved but expired before the poll", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			d := h.start(c)
			h.decide(d.UserCode, h.user("alice").ID, true)
			h.clock.Advance(601 * time.Second)
			return tok, c.pollBody(d.DeviceCode)
		}, 400, "ExpiredTokenException", errBody("expired_token", "The device code has expired.")},
		invalidGrant("CreateToken device: redeemed twice", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			d := h.start(c)
			h.decide(d.UserCode, h.user("alice").ID, true)
			if rec := h.poll(c, d.DeviceCode); rec.Code != 200 {
				t.Fatalf("first redemption: %d %s", rec.Code, rec.Body)
			}
			return tok, c.pollBody(d.DeviceCode)
		}, "The device code has already been used."),
		invalidGrant("CreateToken device: another client's device code", func(t *testing.T, h *harness) (string, string) {
			owner, other := h.register(), h.register()
			return tok, other.pollBody(h.start(owner).DeviceCode)
		}, "Invalid device code provided."),
		invalidGrant("CreateToken device: unknown device code", func(t *testing.T, h *harness) (string, string) {
			return tok, h.register().pollBody("sso_dc_not-a-real-code")
		}, "Invalid device code provided."),
		invalidGrant("CreateToken device: user disabled after approval", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			d := h.start(c)
			u := h.user("alice")
			h.decide(d.UserCode, u.ID, true)
			u.Disabled = true
			if err := h.store.UpdateUser(context.Background(), u); err != nil {
				t.Fatalf("UpdateUser: %v", err)
			}
			return tok, c.pollBody(d.DeviceCode)
		}, "The user is disabled."),
		unauthorized("CreateToken device: client registered for PKCE only", func(t *testing.T, h *harness) (string, string) {
			return tok, h.registerPKCE().pollBody("sso_dc_x")
		}, "This client is not registered for the device code grant."),

		// ---- CreateToken: refresh token ----
		invalidRequest("CreateToken refresh: refreshToken missing", func(t *testing.T, h *harness) (string, string) {
			return tok, h.register().refreshBody("")
		}, "refreshToken is required for the refresh token grant."),
		invalidClient("CreateToken refresh: wrong secret", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			return tok, wrong(c).refreshBody(h.login(c).RefreshToken)
		}, wrongSecret),
		invalidGrant("CreateToken refresh: unknown refresh token", func(t *testing.T, h *harness) (string, string) {
			return tok, h.register().refreshBody("sso_rt_not-a-real-token")
		}, badRefresh),
		invalidGrant("CreateToken refresh: reuse after the grace period", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			tk := h.login(c)
			if rec := h.post(tok, c.refreshBody(tk.RefreshToken)); rec.Code != 200 {
				t.Fatalf("first refresh: %d %s", rec.Code, rec.Body)
			}
			h.clock.Advance(5*time.Second + time.Microsecond)
			return tok, c.refreshBody(tk.RefreshToken)
		}, badRefresh),
		invalidGrant("CreateToken refresh: family revoked by reuse", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			tk := h.login(c)
			var next tokens
			h.mustOK(h.post(tok, c.refreshBody(tk.RefreshToken)), &next)
			h.clock.Advance(time.Minute)
			h.post(tok, c.refreshBody(tk.RefreshToken)) // reuse: revokes the family
			return tok, c.refreshBody(next.RefreshToken)
		}, badRefresh),
		invalidGrant("CreateToken refresh: session ended", func(t *testing.T, h *harness) (string, string) {
			c := h.register()
			tk := h.login(c)
			h.clock.Advance(8 * time.Hour)
			return tok, c.refreshBody(tk.RefreshToken)
		}, badRefresh),
		invalidGrant("CreateToken refresh: another client's refresh token", func(t *testing.T, h *harness) (string, string) {
			owner, other := h.register(), h.register()
			return tok, other.refreshBody(h.login(owner).RefreshToken)
		}, badRefresh),
		unauthorized("CreateToken refresh: client not registered for refresh", func(t *testing.T, h *harness) (string, string) {
			var r struct{ ClientID, ClientSecret string }
			h.mustOK(h.post("/client/register", `{"clientName":"c","clientType":"public","grantTypes":["authorization_code"],"redirectUris":["http://127.0.0.1/oauth/callback"]}`), &r)
			return tok, client{r.ClientID, r.ClientSecret}.refreshBody("sso_rt_x")
		}, "This client is not registered for the refresh token grant."),

		// ---- CreateToken: authorization code ----
		invalidRequest("CreateToken code: code missing", func(t *testing.T, h *harness) (string, string) {
			c := h.registerPKCE()
			return tok, codeBody(t, c, "", pkceRedirect, "")
		}, "code is required for the authorization code grant."),
		unauthorized("CreateToken code: device-flow client", func(t *testing.T, h *harness) (string, string) {
			return tok, codeBody(t, h.register(), "sso_ac_x", pkceRedirect, "")
		}, "This client is not registered for the authorization code grant."),
		invalidGrant("CreateToken code: unknown code", func(t *testing.T, h *harness) (string, string) {
			return tok, codeBody(t, h.registerPKCE(), "sso_ac_x", pkceRedirect, strings.Repeat("v", 64))
		}, "Invalid authorization code provided."),
		invalidGrant("CreateToken code: wrong verifier", func(t *testing.T, h *harness) (string, string) {
			c := h.registerPKCE()
			code, _ := h.authCode(c, h.user("alice").ID)
			return tok, codeBody(t, c, code, pkceRedirect, strings.Repeat("w", 64))
		}, "The code verifier does not match the code challenge."),
		invalidGrant("CreateToken code: redirect URI differs", func(t *testing.T, h *harness) (string, string) {
			c := h.registerPKCE()
			code, verifier := h.authCode(c, h.user("alice").ID)
			return tok, codeBody(t, c, code, "http://127.0.0.1:9/oauth/callback", verifier)
		}, "redirectUri does not match the authorization request."),
		invalidGrant("CreateToken code: expired", func(t *testing.T, h *harness) (string, string) {
			c := h.registerPKCE()
			code, verifier := h.authCode(c, h.user("alice").ID)
			h.clock.Advance(time.Minute)
			return tok, codeBody(t, c, code, pkceRedirect, verifier)
		}, "The authorization code has expired."),
		invalidGrant("CreateToken code: used twice", func(t *testing.T, h *harness) (string, string) {
			c := h.registerPKCE()
			code, verifier := h.authCode(c, h.user("alice").ID)
			if rec := h.post(tok, codeBody(t, c, code, pkceRedirect, verifier)); rec.Code != 200 {
				t.Fatalf("first redemption: %d %s", rec.Code, rec.Body)
			}
			return tok, codeBody(t, c, code, pkceRedirect, verifier)
		}, "The authorization code has already been used."),
		invalidGrant("CreateToken code: another client's code", func(t *testing.T, h *harness) (string, string) {
			owner, other := h.registerPKCE(), h.registerPKCE()
			code, verifier := h.authCode(owner, h.user("alice").ID)
			return tok, codeBody(t, other, code, pkceRedirect, verifier)
		}, "Invalid authorization code provided."),
	}
}

func withSetup(c errCase, name string, setup func(*testing.T, *harness) (string, string)) errCase {
	c.name, c.setup = name, setup
	return c
}

func codeBody(t *testing.T, c client, code, redirectURI, verifier string) string {
	return jsonOf(t, map[string]any{
		"grantType": "authorization_code", "clientId": c.id, "clientSecret": c.secret,
		"redirectUri": redirectURI, "codeVerifier": verifier, "code": code,
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	cases := append(decodingCases(t), engineCases()...)
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			path, body := tc.setup(t, h)
			wantErrorResponse(t, h.post(path, body), tc.status, tc.errType, tc.body)
		})
	}
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
		client{c.id, c.secret + "x"}.pollBody(d.DeviceCode),    // wrong secret
		client{c.id, ""}.pollBody(d.DeviceCode),                // no secret
		other.pollBody(d.DeviceCode),                           // another client
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
	for _, want := range []string{"level=ERROR", "operation=CreateToken", "client_id=" + c.id, "error_type=InternalServerException", "err=\"get client: "} {
		if !strings.Contains(internal, want) {
			t.Errorf("internal error record %q lacks %q", internal, want)
		}
	}
	if !strings.Contains(logs, "error_type=InvalidClientException") || !strings.Contains(logs, "level=INFO") {
		t.Errorf("rejected request not logged at Info:\n%s", logs)
	}
}
