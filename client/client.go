// Package client signs people in to an AWS SSO OIDC service — ssooidc or
// AWS IAM Identity Center itself — and keeps their tokens where the AWS CLI
// and every AWS SDK look for them.
//
// It speaks the AWS rest-json dialect of the SSO OIDC API (RegisterClient,
// StartDeviceAuthorization, CreateToken) and the browser's /authorize
// endpoint, and offers:
//
//   - the device authorization grant (RFC 8628), polling at the server's
//     interval, slowing down by 5 s on slow_down, stopping at expiry or when
//     the context is cancelled;
//   - the authorization code grant with PKCE (RFC 7636) through a loopback
//     listener (RFC 8252 §7.3) and the system browser;
//   - refresh, and a cache of tokens and client registrations in
//     ~/.aws/sso/cache in exactly the format the AWS CLI writes, so a login
//     here is a login for `aws`, boto3, aws-sdk-go-v2 and the JavaScript SDKs;
//   - typed errors for both the AWS and the RFC 6749 error dialects:
//     errors.Is(err, client.ErrAccessDenied).
//
// A typical program:
//
//	c, _ := client.New(client.Options{Region: "eu-west-1"})
//	s := client.Session{Name: "dev", StartURL: "https://d-1234567890.awsapps.com/start", Region: "eu-west-1"}
//	tok, err := c.Login(ctx, s, client.LoginOptions{OpenBrowser: client.OpenSystemBrowser})
//	…
//	tok, err = c.Token(ctx, s) // later: cached, refreshed when near expiry
//
// The package imports only the standard library.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// EnvEndpoint is the variable the AWS CLI and SDKs read for a custom SSO
// OIDC endpoint; EnvPortalEndpoint the one for the SSO portal API.
const (
	EnvEndpoint       = "AWS_ENDPOINT_URL_SSO_OIDC"
	EnvPortalEndpoint = "AWS_ENDPOINT_URL_SSO"
)

// MaxClockSkew is how far the server's clock (its Date header) may be from
// ours before the client warns: beyond it, tokens would look expired or
// not yet valid.
const MaxClockSkew = 5 * time.Minute

// Options configures a Client. Only Region is required, and only when no
// endpoint is given.
type Options struct {
	// Region is the IAM Identity Center region (sso_region). It selects
	// https://oidc.{Region}.amazonaws.com when no endpoint is set and is
	// written into the token cache.
	Region string
	// Endpoint is the SSO OIDC base URL. Empty: $AWS_ENDPOINT_URL_SSO_OIDC,
	// else the AWS endpoint of Region.
	Endpoint string
	// PortalEndpoint is the SSO portal API base URL, used only to sign out.
	// Empty: $AWS_ENDPOINT_URL_SSO, else Endpoint when that is not AWS's,
	// else https://portal.sso.{Region}.amazonaws.com.
	PortalEndpoint string
	// CacheDir holds tokens and registrations. Empty: ~/.aws/sso/cache.
	CacheDir string
	// HTTPClient sends the requests. Nil: a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// UserAgent is sent with every request. Empty: "ssooidc-client".
	UserAgent string
	// Warn receives problems that do not stop the operation: a server
	// clock far from ours (*ClockSkewError), a failed refresh while the
	// cached token is still valid. Nil: ignored.
	Warn func(error)
}

// Client talks to one SSO OIDC endpoint. It is safe for concurrent use.
type Client struct {
	endpoint  *url.URL
	portal    *url.URL
	region    string
	cacheDir  string
	http      *http.Client
	now       func() time.Time
	userAgent string
	warn      func(error)

	skewOnce sync.Once
}

// New returns a client for the endpoint that o selects.
func New(o Options) (*Client, error) {
	ep := o.Endpoint
	if ep == "" {
		ep = os.Getenv(EnvEndpoint)
	}
	custom := ep != ""
	if ep == "" {
		if o.Region == "" {
			return nil, errors.New("client: a region or an endpoint is required")
		}
		ep = RegionEndpoint(o.Region)
	}
	endpoint, err := parseBase(ep)
	if err != nil {
		return nil, fmt.Errorf("client: endpoint: %w", err)
	}
	pe := o.PortalEndpoint
	if pe == "" {
		pe = os.Getenv(EnvPortalEndpoint)
	}
	if pe == "" {
		if custom || o.Region == "" {
			pe = ep
		} else {
			pe = "https://portal.sso." + o.Region + ".amazonaws.com"
		}
	}
	portal, err := parseBase(pe)
	if err != nil {
		return nil, fmt.Errorf("client: portal endpoint: %w", err)
	}
	c := &Client{
		endpoint:  endpoint,
		portal:    portal,
		region:    o.Region,
		cacheDir:  o.CacheDir,
		http:      o.HTTPClient,
		now:       o.Now,
		userAgent: o.UserAgent,
		warn:      o.Warn,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.userAgent == "" {
		c.userAgent = "ssooidc-client"
	}
	if c.warn == nil {
		c.warn = func(error) {}
	}
	if c.cacheDir == "" {
		dir, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		c.cacheDir = dir
	}
	return c, nil
}

// RegionEndpoint is AWS's SSO OIDC endpoint in region.
func RegionEndpoint(region string) string {
	host := "oidc." + region + ".amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		host += ".cn"
	}
	return "https://" + host
}

func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", s)
	}
	return u, nil
}

// Endpoint is the SSO OIDC base URL in use.
func (c *Client) Endpoint() string { return c.endpoint.String() }

// Region is the region the client was given.
func (c *Client) Region() string { return c.region }

// CacheDir is the directory of the token and registration cache.
func (c *Client) CacheDir() string { return c.cacheDir }

// ClockSkewError reports a server clock far from ours.
type ClockSkewError struct {
	Server, Local time.Time
}

// Skew is how far the server's clock is ahead of ours (negative: behind).
func (e *ClockSkewError) Skew() time.Duration { return e.Server.Sub(e.Local) }

func (e *ClockSkewError) Error() string {
	d := e.Skew().Round(time.Second)
	rel := "ahead of"
	if d < 0 {
		d, rel = -d, "behind"
	}
	return fmt.Sprintf("the server's clock is %s %s this computer's (server: %s, here: %s); tokens may look expired or not yet valid: set this computer's clock (enable NTP)",
		d, rel, e.Server.UTC().Format(time.RFC3339), e.Local.UTC().Format(time.RFC3339))
}

const maxBody = 1 << 20

// call POSTs in as JSON to path on base and decodes a 2xx answer into out.
// An error answer is an *Error; no answer at all wraps ErrUnreachable.
func (c *Client) call(ctx context.Context, op string, base *url.URL, path string, header http.Header, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		body = b
		header = header.Clone()
		if header == nil {
			header = http.Header{}
		}
		header.Set("Content-Type", "application/json")
	}
	resp, data, err := c.post(ctx, op, base.String()+path, header, body)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseError(op, resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: the server at %s did not answer with JSON (HTTP %d): %w", op, base.Host, resp.StatusCode, err)
	}
	return nil
}

// post sends one POST and reads the answer (at most 1 MiB). Failing to get
// an answer wraps ErrUnreachable, or is the context's error.
func (c *Client) post(ctx context.Context, op, target string, header http.Header, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	copyHeader(req.Header, header)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, context.Cause(ctx))
		}
		return nil, nil, fmt.Errorf("%s: %w: %w", op, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	c.checkClock(resp)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, context.Cause(ctx))
		}
		return nil, nil, fmt.Errorf("%s: %w: reading the answer: %w", op, ErrUnreachable, err)
	}
	return resp, data, nil
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// checkClock warns once when the server's Date is more than MaxClockSkew
// from ours.
func (c *Client) checkClock(resp *http.Response) {
	d := resp.Header.Get("Date")
	if d == "" {
		return
	}
	server, err := http.ParseTime(d)
	if err != nil {
		return
	}
	local := c.now()
	if skew := server.Sub(local); skew > MaxClockSkew || skew < -MaxClockSkew {
		c.skewOnce.Do(func() { c.warn(&ClockSkewError{Server: server, Local: local}) })
	}
}
