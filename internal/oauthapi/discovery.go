package oauthapi

import (
	"net/http"

	"github.com/ssooidc/ssooidc/internal/oauth"
)

// discovery is the provider metadata (OpenID Connect Discovery 1.0 §3,
// RFC 8414 §2), fixed for the life of the server.
type discovery struct {
	Issuer                                    string   `json:"issuer"`
	AuthorizationEndpoint                     string   `json:"authorization_endpoint"`
	DeviceAuthorizationEndpoint               string   `json:"device_authorization_endpoint"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	UserinfoEndpoint                          string   `json:"userinfo_endpoint"`
	JWKSURI                                   string   `json:"jwks_uri"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	ScopesSupported                           []string `json:"scopes_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	ResponseModesSupported                    []string `json:"response_modes_supported"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	SubjectTypesSupported                     []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported          []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported             []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                           []string `json:"claims_supported"`
}

// discoveryDocument encodes the metadata once. algs are the ID token
// signing algorithms (RS256 first: Discovery §3 requires it).
func discoveryDocument(issuer string, algs []string) []byte {
	authMethods := []string{"client_secret_basic", "client_secret_post", "none"}
	d := discovery{
		Issuer:                                    issuer,
		AuthorizationEndpoint:                     issuer + PathAuthorize,
		DeviceAuthorizationEndpoint:               issuer + PathDeviceAuthorization,
		TokenEndpoint:                             issuer + PathToken,
		UserinfoEndpoint:                          issuer + PathUserInfo,
		JWKSURI:                                   issuer + PathJWKS,
		RevocationEndpoint:                        issuer + PathRevoke,
		IntrospectionEndpoint:                     issuer + PathIntrospect,
		ScopesSupported:                           []string{oauth.ScopeOpenID, oauth.ScopeEmail, oauth.ScopeProfile},
		ResponseTypesSupported:                    []string{"code"},
		ResponseModesSupported:                    []string{"query"},
		GrantTypesSupported:                       []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantDeviceCode},
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          algs,
		TokenEndpointAuthMethodsSupported:         authMethods,
		RevocationEndpointAuthMethodsSupported:    authMethods,
		IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
		CodeChallengeMethodsSupported:             []string{"S256"},
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce",
			"email", "name", "preferred_username"},
	}
	if d.IDTokenSigningAlgValuesSupported == nil {
		d.IDTokenSigningAlgValuesSupported = []string{}
	}
	b, err := encode(d)
	if err != nil {
		panic(err) // strings and string slices always encode
	}
	return b
}

// serveDiscovery is GET /.well-known/openid-configuration. The document is
// public and changes only with the configuration: cacheable, and readable
// by browser apps on other origins.
func (a *API) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Access-Control-Allow-Origin", "*")
	w.Write(a.discovery)
}

// serveJWKS is GET /oauth2/jwks: the public keys (RFC 7517 §5), cacheable
// for less time than a new key waits before it signs, and readable by
// browser apps on other origins.
func (a *API) serveJWKS(w http.ResponseWriter, r *http.Request) {
	var b []byte
	var err error = oauth.Errorf(oauth.Internal, "no signing keys are configured")
	if a.keys != nil {
		if b, err = a.keys.JWKS(r.Context()); err != nil {
			err = &oauth.Error{Kind: oauth.Internal, Description: "load signing keys", Err: err}
		}
	}
	if err != nil {
		noStore(w.Header())
		a.writeError(w, r, "jwks", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Cache-Control", a.jwksCache)
	h.Set("Access-Control-Allow-Origin", "*")
	w.Write(b)
}
