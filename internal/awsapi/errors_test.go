package awsapi

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// Golden errors: every error each operation can answer, with its exact
// status, x-amzn-ErrorType and body (AWS-WIRE.md §3.4).

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
	const unknownClient = "Invalid client: unknown client id or wrong client secret."
	const wrongSecret = unknownClient
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

// TestDecodingErrors: answers given before the engine runs share one
// harness; that they change no state is TestStateIntactAfterBadInput's job.
func TestDecodingErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	runErrorCases(t, decodingCases(t), func(*testing.T) *harness { return h })
}

// TestEngineErrors: each case drives its own harness, clock and store.
func TestEngineErrors(t *testing.T) {
	t.Parallel()
	runErrorCases(t, engineCases(), func(t *testing.T) *harness { return newHarness(t) })
}

func runErrorCases(t *testing.T, cases []errCase, harnessFor func(*testing.T) *harness) {
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := harnessFor(t)
			path, body := tc.setup(t, h)
			wantErrorResponse(t, h.post(path, body), tc.status, tc.errType, tc.body)
		})
	}
}
