package oauthapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ssooidc/ssooidc/internal/oauth"
)

// The form decoders face the network: fuzz them. For any input: no panic;
// every error is an *oauth.Error of an expected Kind with a description;
// what a success returns is text the engine and every backend can take.

var formSeeds = []string{
	``,
	`grant_type=refresh_token&refresh_token=sso_rt_x&client_id=c`,
	`grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=sso_dc_x&client_id=c`,
	`client_id=a&client_id=b`,
	`client_id=&scope=openid+email`,
	`client_id=%zz`,
	`client_id=a;b`,
	`client_id=%00`,
	`client_id=%C3%28`,
	`=&&=x&%20=%20`,
	`scope=openid%20profile%20email&code_verifier=` + strings.Repeat("v", 128),
}

func wantKind(t *testing.T, what string, err error, kinds ...oauth.Kind) {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) || err != error(oe) {
		t.Fatalf("%s: error %T %v, want *oauth.Error", what, err, err)
	}
	for _, k := range kinds {
		if oe.Kind == k && oe.Description != "" {
			return
		}
	}
	t.Fatalf("%s: error kind %v %q, want one of %v with a description", what, oe.Kind, oe.Description, kinds)
}

func wantText(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Fatalf("%s = %q: not text without control characters", what, s)
	}
}

func FuzzParseForm(f *testing.F) {
	for _, s := range formSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := parseForm(body, tokenParams)
		if err != nil {
			wantKind(t, "parseForm", err, oauth.InvalidRequest)
			return
		}
		for _, n := range tokenParams {
			switch len(v[n]) {
			case 0:
			case 1:
				if v[n][0] == "" {
					t.Fatalf("%s kept an empty value", n)
				}
				wantText(t, n, v[n][0])
			default:
				t.Fatalf("%s has %d values", n, len(v[n]))
			}
		}
	})
}

func FuzzClientAuth(f *testing.F) {
	for _, s := range formSeeds {
		f.Add("", s)
	}
	f.Add("Basic Y2xpZW50OnNlY3JldA==", "client_id=client")
	f.Add("Basic Y2xpZW50Og==", "") // client: (a public client via x/oauth2)
	f.Add("Basic JXp6OnM=", "")     // %zz:s
	f.Add("basic Y2xpZW50OnNlY3JldA==", "client_secret=x")
	f.Add("Bearer x", "client_id=c")
	f.Add("Basic !!!", "")
	f.Fuzz(func(t *testing.T, authorization, body string) {
		form, err := parseForm([]byte(body), tokenParams)
		if err != nil {
			return
		}
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		c, err := clientAuth(r, form)
		if err != nil {
			wantKind(t, "clientAuth", err, oauth.InvalidRequest, oauth.InvalidClient)
			return
		}
		if c.id == "" {
			t.Fatal("clientAuth succeeded without a client id")
		}
		wantText(t, "client id", c.id)
		wantText(t, "client secret", c.secret)
	})
}

func FuzzBearerToken(f *testing.F) {
	f.Add("GET", "", "")
	f.Add("GET", "Bearer sso_at_x", "")
	f.Add("POST", "", "access_token=sso_at_x")
	f.Add("POST", "Bearer a", "access_token=b")
	f.Add("POST", "Bearer ", "access_token=&access_token=")
	f.Add("GET", "Basic x", "")
	f.Fuzz(func(t *testing.T, method, authorization, body string) {
		if method != http.MethodPost {
			method = http.MethodGet
		}
		r := httptest.NewRequest(method, "/oauth2/userinfo", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		tok, sent, err := bearerToken(httptest.NewRecorder(), r)
		if err != nil {
			wantKind(t, "bearerToken", err, oauth.InvalidRequest, oauth.InvalidToken)
			return
		}
		if sent != (tok != "") {
			t.Fatalf("bearerToken = %q, sent %v", tok, sent)
		}
	})
}
