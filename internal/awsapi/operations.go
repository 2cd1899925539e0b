package awsapi

import (
	"math"
	"net/http"
	"time"

	"github.com/ssooidc/ssooidc/internal/oauth"
)

// registerClientResponse is RegisterClientResponse. Times are epoch
// seconds: the CLI reads clientSecretExpiresAt unconditionally with
// datetime.fromtimestamp.
type registerClientResponse struct {
	ClientID              string `json:"clientId"`
	ClientSecret          string `json:"clientSecret"`
	ClientIDIssuedAt      int64  `json:"clientIdIssuedAt"`
	ClientSecretExpiresAt int64  `json:"clientSecretExpiresAt"`
	AuthorizationEndpoint string `json:"authorizationEndpoint,omitempty"`
}

// registerClient is AWS RegisterClient (POST /client/register).
func (a *API) registerClient(w http.ResponseWriter, r *http.Request) error {
	var q registerClientRequest
	if err := decode(w, r, &q); err != nil {
		return err
	}
	c, err := a.engine.RegisterClient(r.Context(), oauth.RegisterRequest{
		ClientName:   q.ClientName.v,
		ClientType:   q.ClientType.v,
		Scopes:       q.Scopes.v,
		RedirectURIs: q.RedirectURIs.v,
		GrantTypes:   q.GrantTypes.v,
		IssuerURL:    q.IssuerURL.v,
		RequestIP:    clientIP(r),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, registerClientResponse{
		ClientID:              c.ClientID,
		ClientSecret:          c.ClientSecret,
		ClientIDIssuedAt:      c.IssuedAt.Unix(),
		ClientSecretExpiresAt: c.ExpiresAt.Unix(),
		AuthorizationEndpoint: a.authorizationEndpoint,
	})
}

// startDeviceAuthorizationResponse is StartDeviceAuthorizationResponse. The
// CLI needs all six members (a missing one is a KeyError).
type startDeviceAuthorizationResponse struct {
	DeviceCode              string `json:"deviceCode"`
	UserCode                string `json:"userCode"`
	VerificationURI         string `json:"verificationUri"`
	VerificationURIComplete string `json:"verificationUriComplete"`
	ExpiresIn               int32  `json:"expiresIn"`
	Interval                int32  `json:"interval"`
}

// startDeviceAuthorization is AWS StartDeviceAuthorization (POST
// /device_authorization; RFC 8628 §3.1–3.2 in JSON).
func (a *API) startDeviceAuthorization(w http.ResponseWriter, r *http.Request) error {
	var q startDeviceAuthorizationRequest
	if err := decode(w, r, &q); err != nil {
		return err
	}
	d, err := a.engine.StartDeviceAuthorization(r.Context(), oauth.StartRequest{
		ClientID:     q.ClientID.v,
		ClientSecret: q.ClientSecret.v,
		StartURL:     q.StartURL.v,
		RequestIP:    clientIP(r),
		UserAgent:    r.UserAgent(),
	})
	if err != nil {
		return withClient(q.ClientID.v, err)
	}
	return writeJSON(w, startDeviceAuthorizationResponse{
		DeviceCode:              d.DeviceCode,
		UserCode:                d.UserCode,
		VerificationURI:         d.VerificationURI,
		VerificationURIComplete: d.VerificationURIComplete,
		ExpiresIn:               seconds(d.ExpiresIn),
		// Rounded up: an interval of 0 would make clients poll in a loop.
		Interval: seconds(d.Interval + time.Second - 1),
	})
}

// createTokenResponse is CreateTokenResponse. idToken is sent only when the
// client registered the openid scope (the engine then issues one); AWS
// itself never sends it (the model documents it as not supported).
type createTokenResponse struct {
	AccessToken string `json:"accessToken"`
	TokenType   string `json:"tokenType"`
	ExpiresIn   int32  `json:"expiresIn"`
	// Always sent when the engine issued one: botocore, Go and JS drop the
	// cached refresh token when a refresh answer lacks it.
	RefreshToken string `json:"refreshToken,omitempty"`
	IDToken      string `json:"idToken,omitempty"`
}

// createToken is AWS CreateToken (POST /token). The same path with the
// query aws_iam=t is CreateTokenWithIAM, a SigV4-signed operation for
// trusted identity propagation that this server does not implement.
func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	// RawQuery first: parsing the query would allocate on every poll.
	if r.URL.RawQuery != "" && r.URL.Query().Has("aws_iam") {
		return oauth.Errorf(oauth.InvalidRequest, "CreateTokenWithIAM is not supported by this server.")
	}
	var q createTokenRequest
	if err := decode(w, r, &q); err != nil {
		return err
	}
	t, err := a.engine.Token(r.Context(), oauth.TokenRequest{
		ClientID:     q.ClientID.v,
		ClientSecret: q.ClientSecret.v,
		GrantType:    q.GrantType.v,
		DeviceCode:   q.DeviceCode.v,
		Code:         q.Code.v,
		RedirectURI:  q.RedirectURI.v,
		CodeVerifier: q.CodeVerifier.v,
		RefreshToken: q.RefreshToken.v,
	})
	if err != nil {
		return withClient(q.ClientID.v, err)
	}
	tokenType := t.TokenType
	if tokenType == "" {
		tokenType = "Bearer"
	}
	return writeJSON(w, createTokenResponse{
		AccessToken:  t.AccessToken,
		TokenType:    tokenType,
		ExpiresIn:    seconds(t.ExpiresIn),
		RefreshToken: t.RefreshToken,
		IDToken:      t.IDToken,
	})
}

// seconds converts a duration to the model's integer seconds (int32),
// truncating and clamping.
func seconds(d time.Duration) int32 {
	s := d / time.Second
	switch {
	case s < 0:
		return 0
	case s > math.MaxInt32:
		return math.MaxInt32
	}
	return int32(s)
}
