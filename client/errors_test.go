package client_test

import (
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssooidc/ssooidc/client"
)

// TestErrorDialects feeds one error answer at a time through CreateToken
// and checks how it is read.
func TestErrorDialects(t *testing.T) {
	tests := []struct {
		name     string
		answer   answer
		want     error
		typ      string
		code     string
		desc     string
		notMatch error
	}{
		{
			name:   "AWS: header with the coral suffix",
			answer: answer{400, map[string]string{"x-amzn-ErrorType": "AccessDeniedException:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/", "x-amzn-RequestId": "r-1"}, `{"error":"access_denied","error_description":"denied by the user"}`, nil},
			want:   client.ErrAccessDenied, typ: "AccessDeniedException", code: "access_denied", desc: "denied by the user",
		},
		{
			name:   "AWS: header only, body without error",
			answer: answer{401, map[string]string{"x-amzn-ErrorType": "InvalidClientException"}, `{}`, nil},
			want:   client.ErrInvalidClient, typ: "InvalidClientException", code: "invalid_client",
		},
		{
			name:   "AWS: namespaced type",
			answer: answer{400, map[string]string{"x-amzn-ErrorType": "com.amazonaws.ssooidc#ExpiredTokenException"}, `{"error":"expired_token"}`, nil},
			want:   client.ErrExpiredToken, typ: "ExpiredTokenException", code: "expired_token",
		},
		{
			name:   "AWS: the header wins over the body",
			answer: answer{400, map[string]string{"x-amzn-ErrorType": "SlowDownException"}, `{"__type":"InvalidGrantException"}`, nil},
			want:   client.ErrSlowDown, typ: "SlowDownException", code: "slow_down", notMatch: client.ErrInvalidGrant,
		},
		{
			name:   "AWS: __type in the body",
			answer: answer{400, nil, `{"__type":"com.amazonaws.ssooidc#InvalidGrantException","message":"Invalid refresh token provided"}`, nil},
			want:   client.ErrInvalidGrant, typ: "InvalidGrantException", code: "invalid_grant", desc: "Invalid refresh token provided",
		},
		{
			name:   "RFC 6749: body only",
			answer: answer{400, nil, `{"error":"authorization_pending"}`, nil},
			want:   client.ErrAuthorizationPending, typ: "AuthorizationPendingException", code: "authorization_pending",
		},
		{
			name:   "RFC 6749: an RFC-only code",
			answer: answer{503, nil, `{"error":"temporarily_unavailable"}`, nil},
			want:   client.ErrServer, code: "temporarily_unavailable",
		},
		{
			name:   "a 500 without a body",
			answer: answer{500, nil, ``, nil},
			want:   client.ErrServer, notMatch: client.ErrAccessDenied,
		},
		{
			name:   "an HTML 404 is not an OAuth error",
			answer: answer{404, nil, `<html>not here</html>`, nil},
			want:   nil, notMatch: client.ErrServer,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := scriptedClient(t, &script{answers: []answer{tt.answer}}, nil)
				_, err := c.CreateToken(t.Context(), testReg, client.TokenRequest{GrantType: client.GrantDeviceCode, DeviceCode: "dc"})
				var e *client.Error
				if !errors.As(err, &e) {
					t.Fatalf("err = %v (%T), want *client.Error", err, err)
				}
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Errorf("errors.Is(%v, %v) = false", err, tt.want)
				}
				if tt.notMatch != nil && errors.Is(err, tt.notMatch) {
					t.Errorf("errors.Is(%v, %v) = true", err, tt.notMatch)
				}
				if e.Type != tt.typ || e.Code != tt.code || e.Description != tt.desc || e.StatusCode != tt.answer.status || e.Op != "CreateToken" {
					t.Errorf("error = %+v", e)
				}
			})
		})
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tt := range []struct {
		err  *client.Error
		want string
	}{
		{&client.Error{Op: "CreateToken", StatusCode: 400, Type: "AccessDeniedException", Code: "access_denied", Description: "The request was denied."},
			"CreateToken: AccessDeniedException (access_denied): The request was denied."},
		{&client.Error{Op: "Authorize", Code: "access_denied"}, "Authorize: access_denied"},
		{&client.Error{Op: "RegisterClient", StatusCode: 502}, "RegisterClient: HTTP 502 Bad Gateway"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := scriptedClient(t, &script{answers: []answer{{err: fmt.Errorf("dial tcp: connection refused")}}}, nil)
		_, err := c.Register(t.Context(), client.RegisterRequest{ClientName: "x"})
		if !errors.Is(err, client.ErrUnreachable) {
			t.Fatalf("err = %v, want ErrUnreachable", err)
		}
		var e *client.Error
		if errors.As(err, &e) {
			t.Errorf("a transport failure is an *Error: %v", e)
		}
	})
}

func TestAnswersAreChecked(t *testing.T) {
	for _, tt := range []struct {
		name string
		body string
	}{
		{"no expiresIn", `{"accessToken":"at"}`},
		{"no accessToken", `{"expiresIn":3600}`},
		{"not JSON", `<html>hello</html>`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := scriptedClient(t, &script{answers: []answer{{status: 200, body: tt.body}}}, nil)
				if tok, err := c.Refresh(t.Context(), testReg, "rt"); err == nil {
					t.Fatalf("accepted %s: %+v", tt.body, tok)
				}
			})
		})
	}
	synctest.Test(t, func(t *testing.T) {
		c := scriptedClient(t, &script{answers: []answer{{status: 200, body: `{"clientId":"c","clientSecret":"s","clientIdIssuedAt":1700000000,"clientSecretExpiresAt":1707776000}`}}}, nil)
		reg, err := c.Register(t.Context(), client.RegisterRequest{Scopes: []string{"sso:account:access"}})
		if err != nil {
			t.Fatal(err)
		}
		if !reg.IssuedAt.Equal(time.Unix(1700000000, 0)) || !reg.ExpiresAt.Equal(time.Unix(1707776000, 0)) || reg.Scopes[0] != "sso:account:access" {
			t.Errorf("registration %+v", reg)
		}
	})
}
