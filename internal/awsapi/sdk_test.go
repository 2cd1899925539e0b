package awsapi

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
)

// TestAWSSDKGoV2 drives the API with the real aws-sdk-go-v2 service/ssooidc
// client over HTTP, the oracle for what AWS clients accept: typed errors
// come only from x-amzn-ErrorType, request ids from x-amzn-RequestId.
func TestAWSSDKGoV2(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := httptest.NewServer(h.mux)
	t.Cleanup(srv.Close)
	oidc := ssooidc.New(ssooidc.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		RetryMaxAttempts: 1, // an InternalServerException must surface, not be retried
		// Only CreateTokenWithIAM is signed; any credentials will do.
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
	})
	ctx := t.Context()

	reg, err := oidc.RegisterClient(ctx, &ssooidc.RegisterClientInput{
		ClientName: aws.String("botocore-client-sdk"),
		ClientType: aws.String("public"),
		Scopes:     []string{"sso:account:access"},
	})
	if err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	if reg.ClientSecretExpiresAt != t0.Add(90*24*time.Hour).Unix() || reg.ClientIdIssuedAt != t0.Unix() {
		t.Errorf("RegisterClient times = %d, %d; want %d, %d", reg.ClientIdIssuedAt, reg.ClientSecretExpiresAt, t0.Unix(), t0.Add(90*24*time.Hour).Unix())
	}

	start, err := oidc.StartDeviceAuthorization(ctx, &ssooidc.StartDeviceAuthorizationInput{
		ClientId: reg.ClientId, ClientSecret: reg.ClientSecret, StartUrl: aws.String(testStartURL),
	})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization: %v", err)
	}
	if start.ExpiresIn != 600 || start.Interval != 1 || aws.ToString(start.VerificationUriComplete) != testIssuer+"/device?user_code="+aws.ToString(start.UserCode) {
		t.Errorf("StartDeviceAuthorization = %+v", start)
	}

	deviceToken := &ssooidc.CreateTokenInput{
		ClientId: reg.ClientId, ClientSecret: reg.ClientSecret,
		GrantType: aws.String(grantDevice), DeviceCode: start.DeviceCode,
	}
	for i := range 2 {
		_, err = oidc.CreateToken(ctx, deviceToken)
		var pending *types.AuthorizationPendingException
		if !errors.As(err, &pending) {
			t.Fatalf("poll %d: got %v, want *types.AuthorizationPendingException", i+1, err)
		}
		if aws.ToString(pending.Error_) != "authorization_pending" || aws.ToString(pending.Error_description) != "Authorization is still pending." {
			t.Errorf("poll %d: error, error_description = %q, %q", i+1, aws.ToString(pending.Error_), aws.ToString(pending.Error_description))
		}
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != 400 || !uuidV4.MatchString(re.ServiceRequestID()) {
			t.Errorf("poll %d: response error %v, want status 400 with a request id", i+1, err)
		}
	}
	_, err = oidc.CreateToken(ctx, deviceToken)
	if slow := (*types.SlowDownException)(nil); !errors.As(err, &slow) {
		t.Fatalf("third poll: got %v, want *types.SlowDownException", err)
	}

	_, err = oidc.CreateToken(ctx, &ssooidc.CreateTokenInput{
		ClientId: reg.ClientId, ClientSecret: aws.String(aws.ToString(reg.ClientSecret) + "x"),
		GrantType: aws.String(grantDevice), DeviceCode: start.DeviceCode,
	})
	var invalidClient *types.InvalidClientException
	var re *awshttp.ResponseError
	if !errors.As(err, &invalidClient) || !errors.As(err, &re) || re.HTTPStatusCode() != 401 {
		t.Fatalf("wrong secret: got %v, want *types.InvalidClientException, status 401", err)
	}

	h.decide(aws.ToString(start.UserCode), h.user("alice").ID, true)
	h.clock.Advance(time.Minute)
	tok, err := oidc.CreateToken(ctx, deviceToken)
	if err != nil {
		t.Fatalf("CreateToken(device): %v", err)
	}
	if tok.ExpiresIn != 3600 || aws.ToString(tok.TokenType) != "Bearer" || !reAccessToken.MatchString(aws.ToString(tok.AccessToken)) || !reRefreshToken.MatchString(aws.ToString(tok.RefreshToken)) || tok.IdToken != nil {
		t.Errorf("CreateToken(device) = %+v", tok)
	}
	_, err = oidc.CreateToken(ctx, deviceToken)
	if invalidGrant := (*types.InvalidGrantException)(nil); !errors.As(err, &invalidGrant) {
		t.Errorf("redeem twice: got %v, want *types.InvalidGrantException", err)
	}

	refreshed, err := oidc.CreateToken(ctx, &ssooidc.CreateTokenInput{
		ClientId: reg.ClientId, ClientSecret: reg.ClientSecret,
		GrantType: aws.String("refresh_token"), RefreshToken: tok.RefreshToken,
	})
	if err != nil {
		t.Fatalf("CreateToken(refresh): %v", err)
	}
	if aws.ToString(refreshed.RefreshToken) == "" || aws.ToString(refreshed.RefreshToken) == aws.ToString(tok.RefreshToken) {
		t.Errorf("refresh returned refreshToken %q, want a new one", aws.ToString(refreshed.RefreshToken))
	}

	_, err = oidc.CreateTokenWithIAM(ctx, &ssooidc.CreateTokenWithIAMInput{
		ClientId: aws.String("arn:aws:sso::123456789012:application/ssoins-1/apl-1"), GrantType: aws.String("authorization_code"), Code: aws.String("c"),
	})
	var invalidRequest *types.InvalidRequestException
	if !errors.As(err, &invalidRequest) || aws.ToString(invalidRequest.Error_description) != "CreateTokenWithIAM is not supported by this server." {
		t.Errorf("CreateTokenWithIAM: got %v, want *types.InvalidRequestException", err)
	}

	h.store.Close()
	_, err = oidc.RegisterClient(ctx, &ssooidc.RegisterClientInput{ClientName: aws.String("c"), ClientType: aws.String("public")})
	var internal *types.InternalServerException
	if !errors.As(err, &internal) || !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
		t.Errorf("store failure: got %v, want *types.InternalServerException, status 500", err)
	}
}
