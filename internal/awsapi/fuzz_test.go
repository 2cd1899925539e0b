package awsapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ssooidc/ssooidc/internal/oauth"
)

// The decoders face the network: fuzz them. Properties, for any input:
// no panic; every error is an *oauth.Error of Kind InvalidRequest with a
// description; a success means the input was one valid JSON object whose
// required members are non-empty strings; a valid JSON object that fails
// is blamed on a member, never on the body's syntax.

var fuzzSeeds = []string{
	``,
	`{}`,
	`null`,
	`[]`,
	`{"clientName":"botocore-client-x","clientType":"public","scopes":["sso:account:access"]}`,
	`{"clientName":"c","clientType":"public","grantTypes":["authorization_code","refresh_token"],"redirectUris":["http://127.0.0.1/oauth/callback"],"issuerUrl":"https://d-0000000000.awsapps.com/start"}`,
	`{"clientId":"id","clientSecret":"s","startUrl":"https://d-0000000000.awsapps.com/start"}`,
	`{"clientId": "id", "clientSecret": "s", "grantType": "urn:ietf:params:oauth:grant-type:device_code", "deviceCode": "d"}`,
	`{"grantType":"refresh_token","clientId":"id","clientSecret":"s","refreshToken":"r","scope":["a"]}`,
	`{"clientId":5,"clientSecret":null,"grantType":"","scope":"a"}`,
	`{"clientId":"\u0000\ud800","clientSecret":"\"\\","grantType":"x","scope":[null]}`,
	`{"CLIENTID":"a","clientid":"b","clientSecret":"s","grantType":"g"}`,
	`{"clientId":"a"} {"clientId":"b"}`,
	`{"clientId":"a","clientSecret":"s","grantType":"g","x":[[[[{}]]]]}`,
}

// checkDecode runs parse on data into q and checks the properties;
// required returns q's required members after a successful parse.
func checkDecode(t *testing.T, data []byte, q request, required func() map[string]jsonString) {
	err := parse(data, q)
	validObject := json.Valid(data) && firstNonSpace(data) >= 0 && data[firstNonSpace(data)] == '{'
	if err == nil {
		if !validObject {
			t.Fatalf("parse(%q) succeeded on something that is not one valid JSON object", data)
		}
		for name, m := range required() {
			if m.state != present || m.v == "" {
				t.Fatalf("parse(%q) succeeded with required %s = %+v", data, name, m)
			}
		}
		return
	}
	oe, ok := err.(*oauth.Error)
	if !ok {
		t.Fatalf("parse(%q) error %T %v, want *oauth.Error", data, err, err)
	}
	if oe.Kind != oauth.InvalidRequest || oe.Description == "" || oe.WireDescription() != oe.Description {
		t.Fatalf("parse(%q) error kind %v description %q, want InvalidRequest with a description", data, oe.Kind, oe.Description)
	}
	memberError := strings.HasSuffix(oe.Description, " is required.") ||
		strings.HasSuffix(oe.Description, " must be a string.") ||
		strings.HasSuffix(oe.Description, " must be a list of strings.")
	if validObject != memberError {
		t.Fatalf("parse(%q) = %q; valid JSON object = %v, member error = %v, want them equal", data, oe.Description, validObject, memberError)
	}
}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
}

func FuzzDecodeRegisterClient(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var q registerClientRequest
		checkDecode(t, data, &q, func() map[string]jsonString {
			return map[string]jsonString{"clientName": q.ClientName, "clientType": q.ClientType}
		})
	})
}

func FuzzDecodeStartDeviceAuthorization(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var q startDeviceAuthorizationRequest
		checkDecode(t, data, &q, func() map[string]jsonString {
			return map[string]jsonString{"clientId": q.ClientID, "clientSecret": q.ClientSecret, "startUrl": q.StartURL}
		})
	})
}

func FuzzDecodeCreateToken(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var q createTokenRequest
		checkDecode(t, data, &q, func() map[string]jsonString {
			return map[string]jsonString{"clientId": q.ClientID, "clientSecret": q.ClientSecret, "grantType": q.GrantType}
		})
		// A decoded string is what encoding/json itself makes of it.
		if q.ClientID.state == present {
			var plain struct {
				ClientID any `json:"clientId"`
			}
			if err := json.Unmarshal(data, &plain); err == nil {
				if s, ok := plain.ClientID.(string); ok && s != q.ClientID.v {
					t.Fatalf("clientId = %q, encoding/json says %q", q.ClientID.v, s)
				}
			}
		}
	})
}
