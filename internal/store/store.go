// Package store defines the records ssooidc keeps and the contract every
// storage backend (SQLite, PostgreSQL) meets.
//
// The contract is deliberately made of intention-revealing atomic methods
// (PollDeviceGrant, RedeemDeviceGrant, ConsumeAuthCode, RotateRefreshToken,
// …): each is one statement or one transaction on every backend, so single
// use and slow_down hold across replicas. Secrets never reach the store in
// clear: codes, client secrets, tokens and session ids arrive as keyed hashes.
//
// Times are stored with microsecond precision and returned in UTC.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them; callers compare with errors.Is.
var (
	// ErrNotFound: no record matches.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: a unique key (id, user name, code hash) is taken.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConsumed: a single-use record was already used, or is not in the
	// state the operation needs (a grant not approved, a code redeemed).
	ErrConsumed = errors.New("store: already consumed")
	// ErrReused: a rotated refresh token was presented after the grace period;
	// the backend has revoked its whole family before returning this.
	ErrReused = errors.New("store: refresh token reused")
	// ErrRevoked: the token family was revoked.
	ErrRevoked = errors.New("store: revoked")
	// ErrExpired: the record exists but is past its expiry.
	ErrExpired = errors.New("store: expired")
	// ErrUserDisabled, ErrUserGone: the user a token family belongs to is
	// disabled, or no longer exists; the backend has revoked the family.
	ErrUserDisabled = errors.New("store: user disabled")
	ErrUserGone     = errors.New("store: user no longer exists")
)

// Client is a registered OAuth client (AWS RegisterClient, or added by an
// admin). Its secret is kept only as a keyed hash.
type Client struct {
	ID           string
	SecretHash   []byte
	Name         string
	Type         string   // "public" for AWS registrations
	Scopes       []string // scopes granted at registration
	GrantTypes   []string // empty: the AWS default (device code + refresh token)
	RedirectURIs []string
	IssuerURL    string
	CreatedAt    time.Time
	ExpiresAt    time.Time // when the secret (and so the registration) expires
}

// DeviceGrantStatus is the life cycle of a device authorization.
type DeviceGrantStatus string

// Device grant states. pending → approved → redeemed, or pending → denied.
const (
	DevicePending  DeviceGrantStatus = "pending"
	DeviceApproved DeviceGrantStatus = "approved"
	DeviceDenied   DeviceGrantStatus = "denied"
	DeviceRedeemed DeviceGrantStatus = "redeemed"
)

// DeviceGrant is one RFC 8628 device authorization.
type DeviceGrant struct {
	DeviceCodeHash []byte // primary key
	UserCodeHash   []byte // unique
	ClientID       string
	Scopes         []string
	StartURL       string
	Status         DeviceGrantStatus
	Interval       time.Duration // current polling interval (grows on slow_down)
	CreatedAt      time.Time
	ExpiresAt      time.Time
	// LastPollAt and PrevPollAt are the two most recent polls (zero when
	// none): a poll is too early when it comes less than Interval after
	// PrevPollAt, which allows a burst of two polls per interval.
	LastPollAt time.Time
	PrevPollAt time.Time
	// Set by approval or denial.
	UserID    string
	DecidedAt time.Time
	// Who started the request, shown on the consent page (phishing defence).
	RequestIP        string
	RequestUserAgent string
}

// PollOutcome reports what PollDeviceGrant did.
type PollOutcome struct {
	// SlowDown: the poll came too early while pending; the interval grew.
	SlowDown bool
}

// AuthCode is an authorization code (RFC 6749 §4.1) bound to a PKCE challenge.
type AuthCode struct {
	CodeHash      []byte
	ClientID      string
	UserID        string
	RedirectURI   string
	CodeChallenge string // S256 challenge
	Scopes        []string
	Nonce         string
	AuthTime      time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
	ConsumedAt    time.Time // zero until redeemed
	FamilyID      string    // the token family the redemption issued
}

// TokenFamily groups every access and refresh token descended from one
// grant. Revoking the family revokes them all.
type TokenFamily struct {
	ID        string
	ClientID  string
	UserID    string
	Scopes    []string
	AuthTime  time.Time // when the person approved
	CreatedAt time.Time
	ExpiresAt time.Time // session end: no refresh after this
	RevokedAt time.Time // zero unless revoked
}

// AccessToken is an issued access token.
type AccessToken struct {
	Hash      []byte
	FamilyID  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RefreshToken is an issued refresh token.
type RefreshToken struct {
	Hash      []byte
	FamilyID  string
	CreatedAt time.Time
	ExpiresAt time.Time
	RotatedAt time.Time // zero until exchanged
}

// TokenSet is what a successful grant writes: a family (new, or the existing
// one on refresh: then only ID is read) and its first or next token pair.
type TokenSet struct {
	Family  TokenFamily
	Access  AccessToken
	Refresh RefreshToken
}

// User is a person in the directory.
type User struct {
	ID           string
	Name         string // unique, as typed at sign-in
	Email        string
	DisplayName  string
	PasswordHash string // argon2id PHC string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is a signed-in browser session, keyed by the hash of its cookie.
type Session struct {
	IDHash    []byte
	UserID    string
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Clients stores registered clients.
type Clients interface {
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns ErrNotFound for an unknown id; expiry is the caller's
	// decision.
	GetClient(ctx context.Context, id string) (Client, error)
}

// DeviceGrants stores device authorizations.
type DeviceGrants interface {
	// CreateDeviceGrant returns ErrAlreadyExists when either code hash is taken.
	CreateDeviceGrant(ctx context.Context, g DeviceGrant) error
	// GetDeviceGrantByUserCode returns the grant with that user code hash
	// (any state); ErrNotFound if none.
	GetDeviceGrantByUserCode(ctx context.Context, userCodeHash []byte) (DeviceGrant, error)
	// PollDeviceGrant atomically records a poll at now by clientID and
	// returns the grant as it is after the poll. Only while the grant is
	// pending is the interval checked: a poll sooner than Interval after
	// PrevPollAt adds slowDownStep to Interval and reports SlowDown. A grant
	// that does not exist or belongs to another client is ErrNotFound and is
	// left untouched.
	PollDeviceGrant(ctx context.Context, deviceCodeHash []byte, clientID string, now time.Time, slowDownStep time.Duration) (DeviceGrant, PollOutcome, error)
	// DecideDeviceGrant moves a pending, unexpired grant (by user code hash)
	// to approved or denied for userID. ErrNotFound if none; ErrConsumed if
	// it is no longer pending; ErrExpired if it expired.
	DecideDeviceGrant(ctx context.Context, userCodeHash []byte, userID string, approve bool, now time.Time) (DeviceGrant, error)
	// RedeemDeviceGrant moves an approved grant to redeemed and writes the
	// token set in the same transaction; exactly one concurrent caller wins,
	// the others get ErrConsumed.
	RedeemDeviceGrant(ctx context.Context, deviceCodeHash []byte, tokens TokenSet) error
}

// AuthCodes stores authorization codes.
type AuthCodes interface {
	CreateAuthCode(ctx context.Context, c AuthCode) error
	GetAuthCode(ctx context.Context, codeHash []byte) (AuthCode, error)
	// ConsumeAuthCode marks the code consumed (ConsumedAt = now, FamilyID =
	// tokens.Family.ID) and writes the token set, atomically. If the code
	// was already consumed it revokes the family the first use issued (RFC
	// 6749 §4.1.2) and returns ErrConsumed.
	ConsumeAuthCode(ctx context.Context, codeHash []byte, now time.Time, tokens TokenSet) error
}

// Tokens stores token families and their tokens.
type Tokens interface {
	// GetAccessToken returns the token and its family. The caller checks
	// expiry and revocation.
	GetAccessToken(ctx context.Context, hash []byte) (AccessToken, TokenFamily, error)
	// GetRefreshToken returns the token and its family.
	GetRefreshToken(ctx context.Context, hash []byte) (RefreshToken, TokenFamily, error)
	// RotateRefreshToken exchanges the refresh token oldHash, presented by
	// clientID at now, for the pair that mint makes for the token's family
	// (the set's Family and token FamilyIDs are ignored: the pair joins that
	// family). mint runs inside the transaction, only when the pair is to be
	// inserted, and again if the transaction is retried (the pair of its
	// last call is the one stored): it must be quick and must not use the
	// store. Records expire at ExpiresAt (a record is expired when now >=
	// ExpiresAt). Atomically:
	//   - unknown token or another client's: ErrNotFound;
	//   - the family's user disabled or gone: revoke the family and return
	//     ErrUserDisabled or ErrUserGone;
	//   - family revoked: ErrRevoked; family or token expired: ErrExpired;
	//   - not yet rotated: mark it rotated at now, insert the pair;
	//   - grace > 0 and rotated no longer ago than grace: insert the pair
	//     (concurrent refreshes from one cached token);
	//   - rotated longer ago: revoke the family and return ErrReused.
	// It returns the family (with every outcome but ErrNotFound). One
	// transaction reads the token, its family and its user, so a refresh
	// costs no read before it.
	RotateRefreshToken(ctx context.Context, oldHash []byte, clientID string, now time.Time, grace time.Duration, mint func(TokenFamily) TokenSet) (TokenFamily, error)
	// RevokeTokenFamily marks the family revoked at now (idempotent).
	RevokeTokenFamily(ctx context.Context, familyID string, now time.Time) error
	// RevokeUserTokens revokes every live family of the user.
	RevokeUserTokens(ctx context.Context, userID string, now time.Time) error
}

// Users stores the directory.
type Users interface {
	// CreateUser returns ErrAlreadyExists when the id or name is taken.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByName(ctx context.Context, name string) (User, error)
	// ListUsers returns every user ordered by name.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser replaces the mutable fields (email, display name, password
	// hash, disabled, updated at) of the user with u.ID.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes the user and its sessions, and revokes its tokens.
	DeleteUser(ctx context.Context, id string, now time.Time) error
}

// Sessions stores browser sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns ErrNotFound for an unknown hash; expiry is the
	// caller's decision.
	GetSession(ctx context.Context, idHash []byte) (Session, error)
	DeleteSession(ctx context.Context, idHash []byte) error
	DeleteUserSessions(ctx context.Context, userID string) error
}

// Settings is a small key/value table for instance-wide facts (the secret
// key's fingerprint, the schema compatibility level).
type Settings interface {
	// GetSetting returns ErrNotFound when unset.
	GetSetting(ctx context.Context, key string) (string, error)
	// PutSettingIfAbsent stores value unless the key is set, and returns
	// the value now stored.
	PutSettingIfAbsent(ctx context.Context, key, value string) (string, error)
}

// Maintenance is what the server's background collector and probes use.
type Maintenance interface {
	// DeleteExpired removes at most limit rows from each kind of record
	// whose removal time is before now: clients past ExpiresAt, device
	// grants and auth codes past ExpiresAt+keep, sessions past ExpiresAt,
	// token families past ExpiresAt (with their tokens), signing keys past
	// ExpiresAt. It returns the number of rows removed.
	DeleteExpired(ctx context.Context, now time.Time, keep time.Duration, limit int) (int, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}

// Store is the whole contract a backend implements.
type Store interface {
	Clients
	DeviceGrants
	AuthCodes
	Tokens
	Users
	Sessions
	Settings
	Maintenance
	SigningKeys // keys.go
	Portal      // portal.go
	Security    // security.go
	Close() error
}
