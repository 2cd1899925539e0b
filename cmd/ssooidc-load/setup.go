package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// setup creates what a scenario needs through the public API only: the
// AWS operations for clients and grants, and the real sign-in and consent
// pages (as a browser would use them) for approvals.
type setup struct {
	base     string // e.g. http://127.0.0.1:8080
	startURL string
	client   *http.Client
}

func newSetup(base, startURL string, timeout time.Duration) *setup {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &setup{
		base:     strings.TrimRight(base, "/"),
		startURL: startURL,
		client: &http.Client{
			Jar:     jar,
			Timeout: timeout,
			// Sign-in and consent answer with redirects within the site;
			// follow them as a browser would.
		},
	}
}

// awsError is an AWS SSO OIDC error answer.
type awsError struct {
	status  int
	errType string
	body    string
}

func (e *awsError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.status, e.errType, strings.TrimSpace(e.body))
}

// call POSTs a JSON request to an AWS operation and decodes a 200 answer.
func (s *setup) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &awsError{status: resp.StatusCode, errType: resp.Header.Get("x-amzn-ErrorType"), body: string(data)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("POST %s: decoding %s: %w", path, data, err)
	}
	return nil
}

type registered struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

func (s *setup) register(ctx context.Context, name string) (registered, error) {
	var r registered
	err := s.call(ctx, "/client/register", map[string]any{
		"clientName": name,
		"clientType": "public",
		"scopes":     []string{"sso:account:access"},
	}, &r)
	if err != nil {
		return r, fmt.Errorf("RegisterClient: %w", err)
	}
	return r, nil
}

type deviceAuth struct {
	DeviceCode              string `json:"deviceCode"`
	UserCode                string `json:"userCode"`
	VerificationURIComplete string `json:"verificationUriComplete"`
	Interval                int    `json:"interval"`
	ExpiresIn               int    `json:"expiresIn"`
}

func (s *setup) start(ctx context.Context, c registered) (deviceAuth, error) {
	var d deviceAuth
	err := s.call(ctx, "/device_authorization", map[string]string{
		"clientId":     c.ClientID,
		"clientSecret": c.ClientSecret,
		"startUrl":     s.startURL,
	}, &d)
	if err != nil {
		return d, fmt.Errorf("StartDeviceAuthorization: %w", err)
	}
	return d, nil
}

type tokenPair struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

// redeem polls an approved grant once for its tokens.
func (s *setup) redeem(ctx context.Context, c registered, deviceCode string) (tokenPair, error) {
	var t tokenPair
	err := s.call(ctx, "/token", map[string]string{
		"clientId":     c.ClientID,
		"clientSecret": c.ClientSecret,
		"grantType":    "urn:ietf:params:oauth:grant-type:device_code",
		"deviceCode":   deviceCode,
	}, &t)
	if err != nil {
		return t, fmt.Errorf("CreateToken (device code): %w", err)
	}
	if t.RefreshToken == "" {
		return t, errors.New("CreateToken (device code): the answer has no refreshToken")
	}
	return t, nil
}

var (
	formRE  = regexp.MustCompile(`(?is)<form\b[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`(?is)<input\b[^>]*\bname="([^"]*)"[^>]*\bvalue="([^"]*)"`)
)

// hiddenFields returns the named inputs with values of the first form on
// page whose action is action.
func hiddenFields(page, action string) (url.Values, bool) {
	for _, f := range formRE.FindAllStringSubmatch(page, -1) {
		if html.UnescapeString(f[1]) != action {
			continue
		}
		v := url.Values{}
		for _, in := range inputRE.FindAllStringSubmatch(f[2], -1) {
			v.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
		return v, true
	}
	return nil, false
}

// page GETs or POSTs a page and returns its final URL and body.
func (s *setup) page(ctx context.Context, method, path string, form url.Values) (string, int, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	target := path
	if strings.HasPrefix(path, "/") {
		target = s.base + path
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return "", 0, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// What a browser sends for a same-origin form post.
		if u, err := url.Parse(s.base); err == nil {
			req.Header.Set("Origin", u.Scheme+"://"+u.Host)
		}
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, "", err
	}
	return resp.Request.URL.String(), resp.StatusCode, string(data), nil
}

// signIn signs the setup's browser in through the sign-in page.
func (s *setup) signIn(ctx context.Context, user, password string) error {
	_, status, body, err := s.page(ctx, http.MethodGet, "/signin?next=%2Fdevice", nil)
	if err != nil {
		return fmt.Errorf("sign-in page: %w", err)
	}
	form, ok := hiddenFields(body, "/signin")
	if !ok {
		return fmt.Errorf("sign-in page (HTTP %d) has no sign-in form", status)
	}
	form.Set("username", user)
	form.Set("password", password)
	final, status, body, err := s.page(ctx, http.MethodPost, "/signin", form)
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	if status != http.StatusOK || strings.Contains(final, "/signin") || strings.Contains(body, `name="password"`) {
		return fmt.Errorf("sign in as %q failed (HTTP %d at %s): wrong user or password?", user, status, final)
	}
	return nil
}

// approve opens the verification URI as the signed-in person and presses
// Allow.
func (s *setup) approve(ctx context.Context, d deviceAuth) error {
	_, status, body, err := s.page(ctx, http.MethodGet, d.VerificationURIComplete, nil)
	if err != nil {
		return fmt.Errorf("consent page: %w", err)
	}
	form, ok := hiddenFields(body, "/device/decide")
	if !ok {
		return fmt.Errorf("consent page for %s (HTTP %d) has no consent form", d.UserCode, status)
	}
	form.Set("action", "allow")
	_, status, body, err = s.page(ctx, http.MethodPost, "/device/decide", form)
	if err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	if status != http.StatusOK || !strings.Contains(body, "approved") {
		return fmt.Errorf("approving %s: HTTP %d", d.UserCode, status)
	}
	return nil
}
