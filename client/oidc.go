package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Grant types (AWS CreateToken grantType).
const (
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// ScopeAccountAccess is the scope that lets a token reach the SSO portal
// (accounts and roles) and makes AWS issue refresh tokens.
const ScopeAccountAccess = "sso:account:access"

// RegisterRequest is the input of RegisterClient.
type RegisterRequest struct {
	ClientName   string
	Scopes       []string
	GrantTypes   []string
	RedirectURIs []string
	IssuerURL    string
}

// Registration is a registered public client.
type Registration struct {
	ClientID     string
	ClientSecret string
	IssuedAt     time.Time
	// ExpiresAt is clientSecretExpiresAt; zero when the server gave none.
	ExpiresAt  time.Time
	Scopes     []string
	GrantTypes []string
}

// Register calls RegisterClient (POST /client/register). ClientType is
// always "public", the only type AWS accepts.
func (c *Client) Register(ctx context.Context, r RegisterRequest) (*Registration, error) {
	if r.ClientName == "" {
		r.ClientName = "ssooidc-client"
	}
	in := struct {
		ClientName   string   `json:"clientName"`
		ClientType   string   `json:"clientType"`
		Scopes       []string `json:"scopes,omitempty"`
		GrantTypes   []string `json:"grantTypes,omitempty"`
		RedirectURIs []string `json:"redirectUris,omitempty"`
		IssuerURL    string   `json:"issuerUrl,omitempty"`
	}{r.ClientName, "public", r.Scopes, r.GrantTypes, r.RedirectURIs, r.IssuerURL}
	var out struct {
		ClientID              string `json:"clientId"`
		ClientSecret          string `json:"clientSecret"`
		ClientIDIssuedAt      int64  `json:"clientIdIssuedAt"`
		ClientSecretExpiresAt int64  `json:"clientSecretExpiresAt"`
	}
	if err := c.call(ctx, "RegisterClient", c.endpoint, "/client/register", nil, in, &out); err != nil {
		return nil, err
	}
	if out.ClientID == "" || out.ClientSecret == "" {
		return nil, errors.New("RegisterClient: the answer has no clientId or clientSecret")
	}
	reg := &Registration{ClientID: out.ClientID, ClientSecret: out.ClientSecret, Scopes: r.Scopes, GrantTypes: r.GrantTypes}
	if out.ClientIDIssuedAt > 0 {
		reg.IssuedAt = time.Unix(out.ClientIDIssuedAt, 0).UTC()
	}
	if out.ClientSecretExpiresAt > 0 {
		reg.ExpiresAt = time.Unix(out.ClientSecretExpiresAt, 0).UTC()
	}
	return reg, nil
}

// DeviceAuthorization is the answer of StartDeviceAuthorization (RFC 8628
// §3.2).
type DeviceAuthorization struct {
	DeviceCode              string
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	ExpiresIn               time.Duration
	// Interval is the polling interval; 5 s when the server gave none.
	Interval time.Duration
	// ExpiresAt is when the device code expires, by our clock.
	ExpiresAt time.Time
}

// StartDeviceAuthorization calls POST /device_authorization.
func (c *Client) StartDeviceAuthorization(ctx context.Context, reg *Registration, startURL string) (*DeviceAuthorization, error) {
	in := struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		StartURL     string `json:"startUrl"`
	}{reg.ClientID, reg.ClientSecret, startURL}
	var out struct {
		DeviceCode              string `json:"deviceCode"`
		UserCode                string `json:"userCode"`
		VerificationURI         string `json:"verificationUri"`
		VerificationURIComplete string `json:"verificationUriComplete"`
		ExpiresIn               int64  `json:"expiresIn"`
		Interval                int64  `json:"interval"`
	}
	now := c.now()
	if err := c.call(ctx, "StartDeviceAuthorization", c.endpoint, "/device_authorization", nil, in, &out); err != nil {
		return nil, err
	}
	if out.DeviceCode == "" || out.UserCode == "" || out.VerificationURI == "" {
		return nil, errors.New("StartDeviceAuthorization: the answer lacks deviceCode, userCode or verificationUri")
	}
	da := &DeviceAuthorization{
		DeviceCode:              out.DeviceCode,
		UserCode:                out.UserCode,
		VerificationURI:         out.VerificationURI,
		VerificationURIComplete: out.VerificationURIComplete,
		ExpiresIn:               time.Duration(out.ExpiresIn) * time.Second,
		Interval:                time.Duration(out.Interval) * time.Second,
	}
	if da.Interval <= 0 {
		da.Interval = 5 * time.Second // RFC 8628 §3.2
	}
	if da.ExpiresIn <= 0 {
		da.ExpiresIn = 10 * time.Minute
	}
	da.ExpiresAt = now.Add(da.ExpiresIn)
	return da, nil
}

// TokenRequest is the input of CreateToken besides the client credentials.
type TokenRequest struct {
	GrantType    string
	DeviceCode   string
	Code         string
	RedirectURI  string
	CodeVerifier string
	RefreshToken string
	Scopes       []string
}

// Token is the answer of CreateToken.
type Token struct {
	AccessToken  string
	RefreshToken string // empty when none was issued
	TokenType    string
	ExpiresIn    time.Duration
	// ExpiresAt is when the access token expires, by our clock.
	ExpiresAt time.Time
}

// CreateToken calls POST /token once.
func (c *Client) CreateToken(ctx context.Context, reg *Registration, r TokenRequest) (*Token, error) {
	in := struct {
		ClientID     string   `json:"clientId"`
		ClientSecret string   `json:"clientSecret"`
		GrantType    string   `json:"grantType"`
		DeviceCode   string   `json:"deviceCode,omitempty"`
		Code         string   `json:"code,omitempty"`
		RedirectURI  string   `json:"redirectUri,omitempty"`
		CodeVerifier string   `json:"codeVerifier,omitempty"`
		RefreshToken string   `json:"refreshToken,omitempty"`
		Scope        []string `json:"scope,omitempty"`
	}{reg.ClientID, reg.ClientSecret, r.GrantType, r.DeviceCode, r.Code, r.RedirectURI, r.CodeVerifier, r.RefreshToken, r.Scopes}
	var out struct {
		AccessToken  string `json:"accessToken"`
		TokenType    string `json:"tokenType"`
		ExpiresIn    int64  `json:"expiresIn"`
		RefreshToken string `json:"refreshToken"`
	}
	now := c.now()
	if err := c.call(ctx, "CreateToken", c.endpoint, "/token", nil, in, &out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" {
		return nil, errors.New("CreateToken: the answer has no accessToken")
	}
	if out.ExpiresIn <= 0 {
		return nil, fmt.Errorf("CreateToken: the answer has no positive expiresIn (%d)", out.ExpiresIn)
	}
	exp := time.Duration(out.ExpiresIn) * time.Second
	return &Token{
		AccessToken:  out.AccessToken,
		RefreshToken: out.RefreshToken,
		TokenType:    out.TokenType,
		ExpiresIn:    exp,
		ExpiresAt:    now.Add(exp),
	}, nil
}

// Refresh redeems a refresh token (RFC 6749 §6).
func (c *Client) Refresh(ctx context.Context, reg *Registration, refreshToken string) (*Token, error) {
	return c.CreateToken(ctx, reg, TokenRequest{GrantType: GrantRefreshToken, RefreshToken: refreshToken})
}
