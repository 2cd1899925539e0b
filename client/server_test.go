package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/client"
	"github.com/ssooidc/ssooidc/internal/server/servertest"
)

// These tests run the library against a whole ssooidc server on a loopback
// port; servertest's Browser plays the person.

const (
	startURL = "https://d-0000000000.awsapps.com/start"
	user     = "alice"
	password = "correct horse battery staple"
)

var devSession = client.Session{Name: "dev", StartURL: startURL, Region: "us-east-1"}

func startServer(t *testing.T) *servertest.Server {
	t.Helper()
	s := servertest.Start(t)
	s.AddUser(t, user, password)
	return s
}

// newClient returns a client for s with its own cache directory (or the
// one given), closing idle connections before the server stops.
func newClient(t *testing.T, s *servertest.Server, cacheDir string) *client.Client {
	t.Helper()
	if cacheDir == "" {
		cacheDir = t.TempDir()
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c, err := client.New(client.Options{
		Region:     "us-east-1",
		Endpoint:   s.URL,
		CacheDir:   cacheDir,
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		Now:        s.Clock.Now,
		Warn:       func(err error) { t.Logf("warning: %v", err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deviceLogin signs in with the device grant; the person decides in the
// browser as soon as the code is shown.
func deviceLogin(t *testing.T, s *servertest.Server, c *client.Client, sess client.Session, allow bool) (*client.CachedToken, error) {
	t.Helper()
	b := s.NewBrowser(t)
	shown := false
	tok, err := c.Login(t.Context(), sess, client.LoginOptions{
		UseDeviceCode: true,
		OnDeviceCode: func(da *client.DeviceAuthorization) {
			shown = true
			if da.UserCode == "" || da.VerificationURI != s.URL+"/device" {
				t.Errorf("device authorization: %+v", da)
			}
			b.Decide(da.VerificationURIComplete, user, password, allow)
		},
	})
	if !shown && err == nil {
		t.Error("the code was never shown")
	}
	return tok, err
}

// pkceLogin signs in with the authorization code grant; the "system
// browser" is servertest's, driving the real pages and following the
// redirect to the client's real loopback listener.
func pkceLogin(t *testing.T, s *servertest.Server, c *client.Client, sess client.Session, allow bool) (*client.CachedToken, error) {
	t.Helper()
	b := s.NewBrowser(t)
	opened := ""
	tok, err := c.Login(t.Context(), sess, client.LoginOptions{
		OpenBrowser: func(u string) error {
			opened = u
			b.Decide(u, user, password, allow)
			return nil
		},
	})
	if opened == "" && err == nil {
		t.Error("no browser was opened")
	}
	return tok, err
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func checkTokenFile(t *testing.T, c *client.Client, sess client.Session, tok *client.CachedToken) {
	t.Helper()
	path := c.Cache().TokenPath(sess)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	m := readJSON(t, path)
	for _, k := range []string{"startUrl", "region", "accessToken", "expiresAt", "clientId", "clientSecret", "registrationExpiresAt", "refreshToken"} {
		if s, _ := m[k].(string); s == "" {
			t.Errorf("token file lacks %s: %v", k, m)
		}
	}
	if m["accessToken"] != tok.AccessToken || m["startUrl"] != startURL || m["region"] != "us-east-1" {
		t.Errorf("token file %v does not hold %+v", m, tok)
	}
	for _, k := range []string{"expiresAt", "registrationExpiresAt"} {
		if _, err := time.Parse(client.CacheTimeFormat, m[k].(string)); err != nil {
			t.Errorf("%s = %q: %v", k, m[k], err)
		}
	}
}

func TestDeviceLogin(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s, "")
	tok, err := deviceLogin(t, s, c, devSession, true)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	checkTokenFile(t, c, devSession, tok)
	if want := s.Clock.Now().Add(time.Hour); !tok.ExpiresAt.Equal(want) {
		t.Errorf("expiresAt = %v, want %v", tok.ExpiresAt, want)
	}
	if want := s.Clock.Now().Add(90 * 24 * time.Hour); !tok.RegistrationExpiresAt.Equal(want) {
		t.Errorf("registrationExpiresAt = %v, want %v", tok.RegistrationExpiresAt, want)
	}
	reg := readJSON(t, c.Cache().RegistrationPath(devSession))
	if reg["clientId"] != tok.ClientID || reg["grantTypes"] != nil {
		t.Errorf("registration cache %v", reg)
	}

	// A second login reuses the registration.
	tok2, err := deviceLogin(t, s, c, devSession, true)
	if err != nil {
		t.Fatalf("second Login: %v", err)
	}
	if tok2.ClientID != tok.ClientID || tok2.AccessToken == tok.AccessToken {
		t.Errorf("second login: client %s (want %s), token reused: %v", tok2.ClientID, tok.ClientID, tok2.AccessToken == tok.AccessToken)
	}
}

func TestDeviceLoginDenied(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s, "")
	_, err := deviceLogin(t, s, c, devSession, false)
	if !errors.Is(err, client.ErrAccessDenied) {
		t.Fatalf("err = %v, want ErrAccessDenied", err)
	}
	var e *client.Error
	if !errors.As(err, &e) || e.Type != "AccessDeniedException" || e.StatusCode != 400 {
		t.Errorf("error = %#v", e)
	}
	if _, err := os.Stat(c.Cache().TokenPath(devSession)); !os.IsNotExist(err) {
		t.Errorf("a token file exists after a denial: %v", err)
	}
}

func TestLegacyLoginUsesTheDeviceGrant(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s, "")
	legacy := client.Session{StartURL: startURL, Region: "us-east-1"}
	tok, err := deviceLogin(t, s, c, legacy, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := readJSON(t, c.Cache().TokenPath(legacy))["accessToken"]; got != tok.AccessToken {
		t.Errorf("legacy token file holds %v", got)
	}
}

func TestPKCELogin(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s, "")
	tok, err := pkceLogin(t, s, c, devSession, true)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	checkTokenFile(t, c, devSession, tok)
	reg := readJSON(t, c.Cache().RegistrationPath(devSession))
	if g, _ := reg["grantTypes"].([]any); len(g) != 2 || g[0] != "authorization_code" {
		t.Errorf("registration cache %v", reg)
	}

	// The token works: refresh it.
	reg2 := &client.Registration{ClientID: tok.ClientID, ClientSecret: tok.ClientSecret}
	if _, err := c.Refresh(t.Context(), reg2, tok.RefreshToken); err != nil {
		t.Errorf("refresh: %v", err)
	}
	// A device login for the same session registers anew (another grant).
	tok3, err := deviceLogin(t, s, c, devSession, true)
	if err != nil {
		t.Fatal(err)
	}
	if tok3.ClientID == tok.ClientID {
		t.Error("the device login reused the PKCE registration")
	}
}

func TestPKCELoginDenied(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s, "")
	_, err := pkceLogin(t, s, c, devSession, false)
	if !errors.Is(err, client.ErrAccessDenied) {
		t.Fatalf("err = %v, want ErrAccessDenied", err)
	}
}

func TestPKCELoginTimesOut(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s, "")
	_, err := c.Login(t.Context(), devSession, client.LoginOptions{
		OnAuthorizeURL:   func(string) {}, // nobody opens it
		AuthorizeTimeout: 50 * time.Millisecond,
	})
	if !errors.Is(err, client.ErrExpiredToken) {
		t.Fatalf("err = %v, want ErrExpiredToken", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Login(ctx, devSession, client.LoginOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestReRegisterWhenTheServerForgotTheClient(t *testing.T) {
	for _, flow := range []string{"device", "pkce"} {
		t.Run(flow, func(t *testing.T) {
			login := deviceLogin
			if flow == "pkce" {
				login = pkceLogin
			}
			cache := t.TempDir()
			s1 := startServer(t)
			tok1, err := login(t, s1, newClient(t, s1, cache), devSession, true)
			if err != nil {
				t.Fatal(err)
			}
			// A new server on a fresh database has never heard of the
			// cached client.
			s2 := startServer(t)
			c2 := newClient(t, s2, cache)
			tok2, err := login(t, s2, c2, devSession, true)
			if err != nil {
				t.Fatalf("login against a server that forgot the client: %v", err)
			}
			if tok2.ClientID == tok1.ClientID {
				t.Error("the forgotten client was used")
			}
			if got := readJSON(t, c2.Cache().RegistrationPath(devSession))["clientId"]; got != tok2.ClientID {
				t.Errorf("registration cache holds %v, want %s", got, tok2.ClientID)
			}
		})
	}
}

func TestExpiredRegistrationIsNotReused(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s, "")
	tok1, err := deviceLogin(t, s, c, devSession, true)
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(90*24*time.Hour - 10*time.Minute) // within 15 minutes of expiry
	tok2, err := deviceLogin(t, s, c, devSession, true)
	if err != nil {
		t.Fatal(err)
	}
	if tok2.ClientID == tok1.ClientID {
		t.Error("a registration 10 minutes from expiry was reused")
	}
}

func TestTokenRefreshes(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s, "")
	tok, err := pkceLogin(t, s, c, devSession, true)
	if err != nil {
		t.Fatal(err)
	}
	// Fresh: the cached token as it is.
	got, err := c.Token(t.Context(), devSession, 0)
	if err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("Token = %+v, %v; want the cached one", got, err)
	}
	// 50 minutes later it is 10 minutes from expiry: refreshed.
	s.Clock.Advance(50 * time.Minute)
	got, err = c.Token(t.Context(), devSession, 0)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if got.AccessToken == tok.AccessToken || got.RefreshToken == tok.RefreshToken {
		t.Errorf("not refreshed: %+v", got)
	}
	if want := s.Clock.Now().Add(time.Hour); !got.ExpiresAt.Equal(want) {
		t.Errorf("expiresAt = %v, want %v", got.ExpiresAt, want)
	}
	m := readJSON(t, c.Cache().TokenPath(devSession))
	if m["accessToken"] != got.AccessToken || m["refreshToken"] != got.RefreshToken || m["clientId"] != tok.ClientID {
		t.Errorf("cache after refresh: %v", m)
	}
	// An expired token is refreshed too.
	s.Clock.Advance(2 * time.Hour)
	got2, err := c.Token(t.Context(), devSession, 0)
	if err != nil || got2.AccessToken == got.AccessToken {
		t.Fatalf("Token after expiry = %+v, %v", got2, err)
	}
	// After the session ends (8 hours), a login is required.
	s.Clock.Advance(9 * time.Hour)
	_, err = c.Token(t.Context(), devSession, 0)
	if !errors.Is(err, client.ErrLoginRequired) || !errors.Is(err, client.ErrInvalidGrant) {
		t.Fatalf("Token after the session ended: %v, want ErrLoginRequired wrapping ErrInvalidGrant", err)
	}
}

func TestTokenWithoutLogin(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s, "")
	if _, err := c.Token(t.Context(), devSession, 0); !errors.Is(err, client.ErrLoginRequired) {
		t.Fatalf("err = %v, want ErrLoginRequired", err)
	}
}

func TestTokenUsesAValidTokenWhenTheServerIsDown(t *testing.T) {
	s := startServer(t)
	cache := t.TempDir()
	c := newClient(t, s, cache)
	tok, err := pkceLogin(t, s, c, devSession, true)
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(55 * time.Minute)
	s.Stop()
	var warned error
	down, err := client.New(client.Options{Region: "us-east-1", Endpoint: s.URL, CacheDir: cache, Now: s.Clock.Now, Warn: func(err error) { warned = err }})
	if err != nil {
		t.Fatal(err)
	}
	got, err := down.Token(t.Context(), devSession, 0)
	if err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("Token = %+v, %v; want the cached one", got, err)
	}
	if !errors.Is(warned, client.ErrUnreachable) {
		t.Errorf("warning = %v, want one wrapping ErrUnreachable", warned)
	}
	s.Clock.Advance(10 * time.Minute)
	if _, err := down.Token(t.Context(), devSession, 0); !errors.Is(err, client.ErrUnreachable) {
		t.Errorf("expired token, server down: %v, want ErrUnreachable", err)
	}
}

func TestLogoutRemovesTheToken(t *testing.T) {
	s := startServer(t)
	c := newClient(t, s, "")
	if _, err := deviceLogin(t, s, c, devSession, true); err != nil {
		t.Fatal(err)
	}
	res, err := c.Logout(t.Context(), devSession)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Removed {
		t.Errorf("result %+v", res)
	}
	// This server has no revocation endpoint yet; when it has, it revokes.
	if !res.Revoked && !errors.Is(res.RevokeErr, client.ErrRevocationUnsupported) {
		t.Errorf("revocation: %v", res.RevokeErr)
	}
	if _, err := os.Stat(res.Path); !os.IsNotExist(err) {
		t.Errorf("token file still there: %v", err)
	}
	// Logging out again is fine.
	if res, err := c.Logout(t.Context(), devSession); err != nil || res.Removed {
		t.Errorf("second logout: %+v, %v", res, err)
	}
}
