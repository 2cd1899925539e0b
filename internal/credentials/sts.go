package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// DefaultRoleARN is the role an assignment names in its account.
const DefaultRoleARN = "arn:aws:iam::{account}:role/{role}"

// defaultSTSRegion signs requests when neither the configuration nor the
// AWS environment names a region: STS answers in every region.
const defaultSTSRegion = "us-east-1"

// STSConfig configures the sts source.
type STSConfig struct {
	// Endpoint is the STS endpoint URL; empty for AWS's own (regional)
	// endpoint. Any STS-compatible endpoint works.
	Endpoint string
	// Region signs the requests; empty for the AWS environment's
	// (AWS_REGION, the shared config file), else us-east-1.
	Region string
	// RoleARN is the template of the role to assume: {account} and {role}
	// are replaced. Empty for DefaultRoleARN.
	RoleARN string
	// Credentials are ssooidc's own AWS credentials; nil for the standard
	// AWS credential chain (environment, shared files and AWS_PROFILE, web
	// identity, container and instance roles).
	Credentials aws.CredentialsProvider
	// HTTPClient sends the requests; nil for the SDK's.
	HTTPClient aws.HTTPClient
	Log        *slog.Logger
}

// STS is the sts source: AssumeRole with ssooidc's own credentials.
type STS struct {
	cfg STSConfig
	log *slog.Logger

	mu     sync.Mutex
	client *sts.Client // built on first use
}

// NewSTS returns the sts source. Nothing is read or resolved until the
// first request, so a server whose accounts all use another source never
// needs AWS credentials.
func NewSTS(cfg STSConfig) *STS {
	if cfg.RoleARN == "" {
		cfg.RoleARN = DefaultRoleARN
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &STS{cfg: cfg, log: log}
}

// RoleARN is the ARN of the role req names.
func (s *STS) RoleARN(req Request) string {
	return strings.NewReplacer("{account}", req.AccountID, "{role}", req.RoleName).Replace(s.cfg.RoleARN)
}

// stsClient builds the client on first use. A failure (a malformed shared
// config file, say) is not kept: the next request tries again.
func (s *STS) stsClient(ctx context.Context) (*sts.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	opts := sts.Options{Region: s.cfg.Region, Credentials: s.cfg.Credentials, HTTPClient: s.cfg.HTTPClient}
	if s.cfg.Credentials == nil {
		var load []func(*awsconfig.LoadOptions) error
		if s.cfg.Region != "" {
			load = append(load, awsconfig.WithRegion(s.cfg.Region))
		}
		if s.cfg.HTTPClient != nil {
			load = append(load, awsconfig.WithHTTPClient(s.cfg.HTTPClient))
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
		if err != nil {
			return nil, fmt.Errorf("credentials: sts: loading ssooidc's AWS configuration: %w", err)
		}
		s.client = sts.NewFromConfig(awsCfg, s.endpoint)
		return s.client, nil
	}
	s.client = sts.New(opts, s.endpoint)
	return s.client, nil
}

func (s *STS) endpoint(o *sts.Options) {
	if s.cfg.Endpoint != "" {
		o.BaseEndpoint = aws.String(s.cfg.Endpoint)
	}
	if o.Region == "" {
		o.Region = defaultSTSRegion
	}
}

// Credentials assumes the role for the person, as a session named after
// them, for req.Duration (within what STS allows). A role whose
// MaxSessionDuration is shorter than the duration asked for gets one hour,
// which every role allows, and the log says so.
func (s *STS) Credentials(ctx context.Context, req Request) (Credentials, error) {
	client, err := s.stsClient(ctx)
	if err != nil {
		return Credentials{}, err
	}
	d, _ := ClampDuration(req.Duration)
	arn := s.RoleARN(req)
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(arn),
		RoleSessionName: aws.String(SessionName(req.UserName)),
		DurationSeconds: aws.Int32(int32(d / time.Second)),
	}
	out, err := client.AssumeRole(ctx, in)
	if err != nil && d > time.Hour && durationRefused(err) {
		s.log.WarnContext(ctx, "STS refused the assignment's session duration for this role (its MaxSessionDuration is shorter, or the role is assumed by role chaining); issuing one-hour credentials instead",
			"role_arn", arn, "duration", d)
		in.DurationSeconds = aws.Int32(3600)
		out, err = client.AssumeRole(ctx, in)
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials: sts: assume role %s: %w", arn, err)
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.Expiration == nil {
		return Credentials{}, fmt.Errorf("credentials: sts: assume role %s: the answer holds no credentials", arn)
	}
	return Credentials{
		AccessKeyID:     *c.AccessKeyId,
		SecretAccessKey: *c.SecretAccessKey,
		SessionToken:    aws.ToString(c.SessionToken),
		Expiration:      c.Expiration.UTC(),
		Source:          "sts",
	}, nil
}

// durationRefused reports whether STS refused DurationSeconds: "The
// requested DurationSeconds exceeds the MaxSessionDuration set for this
// role." or "... exceeds the 1 hour session limit for roles assumed by role
// chaining."
func durationRefused(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "DurationSeconds")
}
