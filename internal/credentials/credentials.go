// Package credentials issues the short-term AWS credentials the SSO portal
// hands out (GetRoleCredentials), from a source chosen per account:
//
//   - sts: AWS STS AssumeRole of arn:aws:iam::<account>:role/<role>, signed
//     with ssooidc's own AWS credentials (the standard AWS credential
//     chain), against AWS or any STS-compatible endpoint;
//   - static: fixed credentials stored sealed under the master key, or
//     generated ones, for local emulators (LocalStack, moto) and tests.
//     NOT FOR PRODUCTION: nothing in AWS stands behind them.
package credentials

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Request asks for the credentials of a role of an account, for a person.
type Request struct {
	AccountID string
	RoleName  string
	UserName  string        // names the role session
	Duration  time.Duration // how long the credentials should last
}

// Credentials are AWS credentials. They print and log without their
// secret parts.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	Source          string // "sts" or "static": for the audit trail
}

// LogValue keeps the secret access key and session token out of logs.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", c.AccessKeyID),
		slog.Time("expiration", c.Expiration),
		slog.String("source", c.Source),
	)
}

// String keeps the secret parts out of formatted output.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{%s from %s until %s}", c.AccessKeyID, c.Source, c.Expiration.Format(time.RFC3339))
}

// GoString keeps the secret parts out of %#v.
func (c Credentials) GoString() string { return c.String() }

// Source issues credentials.
type Source interface {
	Credentials(ctx context.Context, req Request) (Credentials, error)
}

// Router sends each request to its account's source, else to Default.
type Router struct {
	Default   Source
	ByAccount map[string]Source
}

// Credentials asks the account's source.
func (r Router) Credentials(ctx context.Context, req Request) (Credentials, error) {
	if src, ok := r.ByAccount[req.AccountID]; ok {
		return src.Credentials(ctx, req)
	}
	if r.Default == nil {
		return Credentials{}, fmt.Errorf("credentials: no source is configured for account %s", req.AccountID)
	}
	return r.Default.Credentials(ctx, req)
}

// Session lengths STS AssumeRole accepts (DurationSeconds 900 to 43200; a
// role's MaxSessionDuration may allow less).
const (
	MinDuration     = 15 * time.Minute
	MaxDuration     = 12 * time.Hour
	DefaultDuration = time.Hour
)

// ClampDuration brings d within what STS allows (zero means the default),
// and reports whether it had to change a requested duration.
func ClampDuration(d time.Duration) (time.Duration, bool) {
	switch {
	case d == 0:
		return DefaultDuration, false
	case d < MinDuration:
		return MinDuration, true
	case d > MaxDuration:
		return MaxDuration, true
	}
	// STS counts whole seconds.
	return d.Truncate(time.Second), d%time.Second != 0
}

// SessionName derives an STS RoleSessionName (2 to 64 characters of
// [\w+=,.@-]) from a user name: other characters become '-', a longer name
// is cut, a shorter one is padded. CloudTrail shows it as the session that
// acted, so it names the person.
func SessionName(userName string) string {
	var b strings.Builder
	for _, r := range userName {
		if b.Len() == 64 {
			break
		}
		if r < 128 && sessionByte(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() < 2 {
		b.WriteString("-ssooidc")
	}
	return b.String()
}

func sessionByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("_+=,.@-", c) >= 0
}
