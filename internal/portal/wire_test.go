package portal_test

import (
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

	"github.com/ssooidc/ssooidc/internal/audit"
)

// Golden wire tests: exact status, headers and body for every operation's
// success and every error reachable from it (sso-2019-06-10.json,
// AWS-WIRE.md §8).

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// wantResponse checks an answer: status, exactly the headers named (with
// a UUID request id and the body's length), and the whole body.
func wantResponse(t *testing.T, rec *httptest.ResponseRecorder, status int, headers map[string]string, body string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d (body %s)", rec.Code, status, rec.Body)
	}
	want := map[string]string{
		"Cache-Control":  "no-store",
		"Content-Length": fmt.Sprint(len(body)),
	}
	if body != "" {
		want["Content-Type"] = "application/json"
	}
	maps.Copy(want, headers)
	if got := rec.Header().Get("x-amzn-RequestId"); !uuidV4.MatchString(got) {
		t.Errorf("x-amzn-RequestId = %q, want a UUID", got)
	}
	got := map[string]string{}
	for k, v := range rec.Header() {
		if k != "X-Amzn-Requestid" {
			got[k] = strings.Join(v, ", ")
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(body, rec.Body.String()); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
}

func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, errType, message string) {
	t.Helper()
	wantResponse(t, rec, status, map[string]string{"X-Amzn-Errortype": errType}, `{"message":"`+message+`"}`)
}

func TestListAccounts(t *testing.T) {
	h := newHarness(t, 0)
	h.fixture()
	tok := h.token("alice", "sso:account:access")
	rec := h.do(http.MethodGet, "/assignment/accounts", tok.AccessToken)
	wantResponse(t, rec, http.StatusOK, nil, `{"nextToken":null,"accountList":[`+
		`{"accountId":"111111111111","accountName":"Production","emailAddress":"aws-prod@example.test"},`+
		`{"accountId":"222222222222","accountName":"Sandbox"},`+
		`{"accountId":"999999999999","accountName":"Broken"}]}`)

	rec = h.do(http.MethodGet, "/assignment/accounts?max_result=2", tok.AccessToken)
	wantResponse(t, rec, http.StatusOK, nil, `{"nextToken":"MjIyMjIyMjIyMjIy","accountList":[`+
		`{"accountId":"111111111111","accountName":"Production","emailAddress":"aws-prod@example.test"},`+
		`{"accountId":"222222222222","accountName":"Sandbox"}]}`)
	rec = h.do(http.MethodGet, "/assignment/accounts?max_result=2&next_token=MjIyMjIyMjIyMjIy", tok.AccessToken)
	wantResponse(t, rec, http.StatusOK, nil, `{"nextToken":null,"accountList":[{"accountId":"999999999999","accountName":"Broken"}]}`)

	// A user without assignments sees an empty list.
	h.addUser("carol")
	rec = h.do(http.MethodGet, "/assignment/accounts", h.token("carol").AccessToken)
	wantResponse(t, rec, http.StatusOK, nil, `{"nextToken":null,"accountList":[]}`)
}

func TestListAccountRoles(t *testing.T) {
	h := newHarness(t, 0)
	h.fixture()
	tok := h.token("alice", "sso:account:access").AccessToken
	rec := h.do(http.MethodGet, "/assignment/roles?account_id=111111111111", tok)
	wantResponse(t, rec, http.StatusOK, nil, `{"nextToken":null,"roleList":[`+
		`{"roleName":"Admin","accountId":"111111111111"},{"roleName":"ReadOnly","accountId":"111111111111"}]}`)

	rec = h.do(http.MethodGet, "/assignment/roles?account_id=111111111111&max_result=1", tok)
	wantResponse(t, rec, http.StatusOK, nil, `{"nextToken":"QWRtaW4","roleList":[{"roleName":"Admin","accountId":"111111111111"}]}`)
	rec = h.do(http.MethodGet, "/assignment/roles?account_id=111111111111&max_result=1&next_token=QWRtaW4", tok)
	wantResponse(t, rec, http.StatusOK, nil, `{"nextToken":null,"roleList":[{"roleName":"ReadOnly","accountId":"111111111111"}]}`)

	// An account that exists but where alice holds nothing: no roles.
	rec = h.do(http.MethodGet, "/assignment/roles?account_id=333333333333", tok)
	wantResponse(t, rec, http.StatusOK, nil, `{"nextToken":null,"roleList":[]}`)
}

func TestGetRoleCredentials(t *testing.T) {
	h := newHarness(t, 0)
	h.fixture()
	tok := h.token("alice", "sso:account:access")

	// Fixed credentials, for the assignment's two hours; the expiry is in
	// epoch milliseconds.
	rec := h.do(http.MethodGet, "/federation/credentials?role_name=ReadOnly&account_id=111111111111", tok.AccessToken)
	wantResponse(t, rec, http.StatusOK, nil, fmt.Sprintf(`{"roleCredentials":{"accessKeyId":"AKIAIOSFODNN7EXAMPLE",`+
		`"secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","sessionToken":"FwoGZXIvYXdzEXAMPLE","expiration":%d}}`,
		t0.Add(2*time.Hour).UnixMilli()))

	// Generated credentials (no stored ones), through the group, for the
	// default hour.
	rec = h.do(http.MethodGet, "/federation/credentials?role_name=Developer&account_id=222222222222", tok.AccessToken)
	if rec.Code != http.StatusOK {
		t.Fatalf("generated credentials: status %d, body %s", rec.Code, rec.Body)
	}
	re := regexp.MustCompile(`^\{"roleCredentials":\{"accessKeyId":"ASIA[A-Z2-7]{16}","secretAccessKey":"[A-Za-z0-9+/]{40}","sessionToken":"[A-Za-z0-9+/]{128}","expiration":` +
		fmt.Sprint(t0.Add(time.Hour).UnixMilli()) + `\}\}$`)
	if !re.MatchString(rec.Body.String()) {
		t.Errorf("generated credentials body = %s, want a match for %s", rec.Body, re)
	}

	// Each issue is in the audit trail, without the secret.
	issued := h.audit.of(audit.CredentialsIssued)
	if len(issued) != 2 {
		t.Fatalf("%d credentials.issued events, want 2: %+v", len(issued), issued)
	}
	want := fmt.Sprintf("account=111111111111 role=ReadOnly source=static access_key_id=AKIAIOSFODNN7EXAMPLE expires=%s",
		t0.Add(2*time.Hour).Format(time.RFC3339))
	if ev := issued[0]; ev.UserID != "id-alice" || ev.ClientID == "" || ev.Detail != want || !ev.Time.Equal(t0) {
		t.Errorf("event = %+v, want alice's with detail %q", ev, want)
	}
	for _, ev := range issued {
		if strings.Contains(ev.Detail, "wJalrXUtnFEMI") || strings.Contains(ev.Detail, "FwoGZXIvYXdz") {
			t.Errorf("audit detail holds a secret: %q", ev.Detail)
		}
	}
}

func TestLogout(t *testing.T) {
	h := newHarness(t, 0)
	h.fixture()
	tok := h.token("alice", "sso:account:access")
	rec := h.do(http.MethodPost, "/logout", tok.AccessToken)
	wantResponse(t, rec, http.StatusOK, nil, "")
	if got := h.audit.of(audit.TokenRevoked); len(got) != 1 || got[0].UserID != "id-alice" || got[0].Detail != "logout" {
		t.Errorf("token.revoked events = %+v, want alice's logout", got)
	}
	// The token, and its whole session, are gone.
	wantError(t, h.do(http.MethodGet, "/assignment/accounts", tok.AccessToken), http.StatusUnauthorized,
		"UnauthorizedException", "Session token has been revoked; sign in again.")
	wantError(t, h.do(http.MethodPost, "/logout", tok.AccessToken), http.StatusUnauthorized,
		"UnauthorizedException", "Session token has been revoked; sign in again.")
}

func TestErrors(t *testing.T) {
	h := newHarness(t, 0)
	h.fixture()
	alice := h.token("alice", "sso:account:access").AccessToken
	legacy := h.token("alice").AccessToken // registered without scopes, like the CLI's legacy profiles
	openid := h.token("alice", "openid").AccessToken
	expired := h.token("alice", "sso:account:access").AccessToken
	const (
		accounts = "/assignment/accounts"
		roles    = "/assignment/roles?account_id=111111111111"
		creds    = "/federation/credentials?role_name=ReadOnly&account_id=111111111111"
	)
	type call struct{ method, target string }
	every := []call{{"GET", accounts}, {"GET", roles}, {"GET", creds}, {"POST", "/logout"}}

	for _, c := range every {
		wantError(t, h.do(c.method, c.target, ""), 401, "UnauthorizedException", "No access token was sent.")
		wantError(t, h.do(c.method, c.target, "sso_at_made-up"), 401, "UnauthorizedException", "Session token not found or invalid")
		wantError(t, h.do(c.method, c.target, openid), 401, "UnauthorizedException", "The access token was not issued for the sso:account:access scope.")
	}
	if rec := h.do("GET", creds, legacy); rec.Code != http.StatusOK {
		t.Errorf("a token without scopes: status %d, body %s; want 200", rec.Code, rec.Body)
	}

	for _, tc := range []struct {
		name, target string
		status       int
		errType, msg string
	}{
		{"roles without account_id", "/assignment/roles", 400, "InvalidRequestException", "account_id is required."},
		{"credentials without role_name", "/federation/credentials?account_id=111111111111", 400, "InvalidRequestException", "role_name is required."},
		{"credentials without account_id", "/federation/credentials?role_name=ReadOnly", 400, "InvalidRequestException", "account_id is required."},
		{"max_result 0", accounts + "?max_result=0", 400, "InvalidRequestException", "max_result must be a whole number from 1 to 100."},
		{"max_result 101", roles + "&max_result=101", 400, "InvalidRequestException", "max_result must be a whole number from 1 to 100."},
		{"max_result text", accounts + "?max_result=ten", 400, "InvalidRequestException", "max_result must be a whole number from 1 to 100."},
		{"next_token not ours", accounts + "?next_token=%21%21", 400, "InvalidRequestException", "next_token is not a token this service issued."},
		{"roles of an unknown account", "/assignment/roles?account_id=444444444444", 404, "ResourceNotFoundException", "No account with this id."},
		{"roles of a malformed account id", "/assignment/roles?account_id=abc", 404, "ResourceNotFoundException", "No account with this id."},
		{"credentials in an unknown account", "/federation/credentials?role_name=ReadOnly&account_id=444444444444", 404, "ResourceNotFoundException", "No account with this id."},
		{"credentials of an unknown role", "/federation/credentials?role_name=Nope&account_id=111111111111", 404, "ResourceNotFoundException", "No role with this name in the account."},
		{"credentials of a role name no account has", "/federation/credentials?role_name=a%2Fb&account_id=111111111111", 404, "ResourceNotFoundException", "No role with this name in the account."},
		{"credentials of someone else's role", "/federation/credentials?role_name=Billing&account_id=111111111111", 403, "ForbiddenException", "No access"},
		{"credentials in someone else's account", "/federation/credentials?role_name=Billing&account_id=333333333333", 403, "ForbiddenException", "No access"},
		{"credential source fails", "/federation/credentials?role_name=ReadOnly&account_id=999999999999", 500, "InternalServerException",
			"The credentials for this role could not be obtained; the administrator finds the cause in the server log under this request id."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, h.do("GET", tc.target, alice), tc.status, tc.errType, tc.msg)
		})
	}

	h.clock.Advance(time.Hour)
	for _, c := range every {
		wantError(t, h.do(c.method, c.target, expired), 401, "UnauthorizedException", "Session token has expired; sign in again.")
	}
	if n := len(h.audit.of(audit.CredentialsIssued)); n != 1 {
		t.Errorf("%d credentials.issued events, want 1 (the legacy token's)", n)
	}
}

func TestDisabledUser(t *testing.T) {
	h := newHarness(t, 0)
	h.fixture()
	tok := h.token("alice", "sso:account:access").AccessToken
	u, err := h.store.GetUserByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	// Disabled in the store without revoking (as if revocation lagged):
	// credentials are still refused.
	u.Disabled = true
	if err := h.store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	wantError(t, h.do("GET", "/federation/credentials?role_name=ReadOnly&account_id=111111111111", tok), 401,
		"UnauthorizedException", "Session token not found or invalid")
}

func TestTooManyRequests(t *testing.T) {
	h := newHarness(t, 2)
	h.fixture()
	alice := h.token("alice", "sso:account:access").AccessToken
	bob := h.token("bob", "sso:account:access").AccessToken
	for i := range 2 {
		if rec := h.do("GET", "/assignment/accounts", alice); rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d, body %s", i+1, rec.Code, rec.Body)
		}
	}
	wantResponse(t, h.do("GET", "/assignment/accounts", alice), 429,
		map[string]string{"X-Amzn-Errortype": "TooManyRequestsException", "Retry-After": "30"},
		`{"message":"Too many requests from this session; slow down."}`)
	// Per session: bob is not held back.
	if rec := h.do("GET", "/assignment/accounts", bob); rec.Code != http.StatusOK {
		t.Errorf("bob: status %d, want 200", rec.Code)
	}
	// Two a minute: one more after 30 seconds.
	h.clock.Advance(30 * time.Second)
	if rec := h.do("GET", "/assignment/accounts", alice); rec.Code != http.StatusOK {
		t.Errorf("after 30s: status %d, want 200", rec.Code)
	}
	if rec := h.do("GET", "/assignment/accounts", alice); rec.Code != http.StatusTooManyRequests {
		t.Errorf("again: status %d, want 429", rec.Code)
	}
}

func TestPagination(t *testing.T) {
	h := newHarness(t, 0)
	h.addUser("alice")
	ctx := t.Context()
	const n = 250
	var want []string
	for i := range n {
		id := fmt.Sprintf("%012d", 500000000000+i*13)
		want = append(want, id)
		if _, err := h.accounts.AddAccount(ctx, id, "account "+id, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := h.accounts.Assign(ctx, accountsUser("alice"), id, "ReadOnly", 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 25 {
		if _, err := h.accounts.Assign(ctx, accountsUser("alice"), want[0], fmt.Sprintf("Role%02d", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	tok := h.token("alice", "sso:account:access").AccessToken
	idRE := regexp.MustCompile(`"accountId":"(\d{12})"`)
	tokenRE := regexp.MustCompile(`"nextToken":"([^"]+)"`)
	for _, tc := range []struct {
		query string
		pages int
	}{{"", 13}, {"max_result=100&", 3}, {"max_result=1&", n}} {
		var got []string
		pages := 0
		next := ""
		for {
			pages++
			target := "/assignment/accounts?" + tc.query
			if next != "" {
				target += "next_token=" + next
			}
			rec := h.do("GET", target, tok)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: status %d, body %s", target, rec.Code, rec.Body)
			}
			for _, m := range idRE.FindAllStringSubmatch(rec.Body.String(), -1) {
				got = append(got, m[1])
			}
			m := tokenRE.FindStringSubmatch(rec.Body.String())
			if m == nil {
				break
			}
			next = m[1]
		}
		if pages != tc.pages {
			t.Errorf("%q: %d pages, want %d", tc.query, pages, tc.pages)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q: account ids mismatch (-want +got):\n%s", tc.query, diff)
		}
	}

	// Roles page the same way: 26 roles, 10 a page.
	roleRE := regexp.MustCompile(`"roleName":"([^"]+)"`)
	var roles []string
	next := ""
	for pages := 1; ; pages++ {
		target := "/assignment/roles?account_id=" + want[0] + "&max_result=10"
		if next != "" {
			target += "&next_token=" + next
		}
		body := h.do("GET", target, tok).Body.String()
		for _, m := range roleRE.FindAllStringSubmatch(body, -1) {
			roles = append(roles, m[1])
		}
		m := tokenRE.FindStringSubmatch(body)
		if m == nil {
			if pages != 3 {
				t.Errorf("roles: %d pages, want 3", pages)
			}
			break
		}
		next = m[1]
	}
	if len(roles) != 26 || roles[0] != "ReadOnly" || roles[1] != "Role00" || !slices.IsSorted(roles) {
		t.Errorf("roles = %v, want ReadOnly and Role00…Role24 in byte order", roles)
	}
}
