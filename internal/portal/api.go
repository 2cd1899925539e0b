// Package portal serves the AWS SSO portal API (service "SSO", API version
// 2019-06-10, sso-2019-06-10.json) on the server's listener, so that `aws
// configure sso`, `aws sso logout` and every AWS SDK's SSO credential
// provider work against ssooidc:
//
//	GET  /assignment/accounts    ListAccounts      next_token, max_result
//	GET  /assignment/roles       ListAccountRoles  account_id, next_token, max_result
//	GET  /federation/credentials GetRoleCredentials role_name, account_id
//	POST /logout                 Logout
//
// Every operation takes the access token CreateToken issued in the
// x-amz-sso_bearer_token header (with its underscore). Answers are
// camelCase JSON; an error carries its shape name in x-amzn-ErrorType and a
// body of one member, {"message": …}: UnauthorizedException 401 for a
// missing, unknown, expired or revoked token, ResourceNotFoundException 404
// for an account or role that does not exist, ForbiddenException 403 for a
// role the caller is not assigned, TooManyRequestsException 429 past the
// per-session limit, InvalidRequestException 400 for bad parameters.
//
// The package is an adapter: the engine checks tokens, internal/accounts
// decides what a person may see and issues credentials; this package only
// reads requests and writes answers.
package portal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ssooidc/ssooidc/internal/accounts"
	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
)

// Wire names (sso-2019-06-10.json).
const (
	headerBearer    = "x-amz-sso_bearer_token"
	headerRequestID = "x-amzn-RequestId"
	headerErrorType = "x-amzn-ErrorType"
	contentTypeJSON = "application/json"

	// ScopeAccountAccess is the scope of tokens meant for the portal.
	ScopeAccountAccess = "sso:account:access"
)

// Page sizes: max_result is 1 to 100 (MaxResultType); without it a page
// holds DefaultPageSize items.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Bearers checks access tokens: *oauth.Engine.
type Bearers interface {
	Bearer(ctx context.Context, accessToken string) (oauth.BearerInfo, error)
	RevokeBearer(ctx context.Context, accessToken string) error
}

// Config is the API's policy.
type Config struct {
	// RateLimit is how many requests a minute one sign-in session may
	// make, as a token bucket of that size in this process; 0 is no limit.
	RateLimit int
	Now       func() time.Time // time.Now when nil
	Log       *slog.Logger
}

// API is the SSO portal over the engine and the accounts service.
type API struct {
	bearers  Bearers
	accounts *accounts.Service
	limit    *limiter
	now      func() time.Time
	log      *slog.Logger
}

// New returns the portal API.
func New(bearers Bearers, acc *accounts.Service, cfg Config) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &API{bearers: bearers, accounts: acc, limit: newLimiter(cfg.RateLimit), now: cfg.Now, log: cfg.Log}
}

// Register adds the four portal operations to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle("GET /assignment/accounts", a.handle("ListAccounts", a.listAccounts))
	mux.Handle("GET /assignment/roles", a.handle("ListAccountRoles", a.listAccountRoles))
	mux.Handle("GET /federation/credentials", a.handle("GetRoleCredentials", a.getRoleCredentials))
	mux.Handle("POST /logout", a.handle("Logout", a.logout))
}

// handlerFunc is an operation for a caller whose token was checked.
type handlerFunc func(w http.ResponseWriter, r *http.Request, caller oauth.BearerInfo) error

// handle wraps an operation once: request id on every answer, nothing
// cached, the bearer token checked and the caller's rate limited before
// the operation runs, and every failure through writeError.
func (a *API) handle(op string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := reqinfo.From(r.Context()).ID
		if id == "" {
			id = reqinfo.NewID()
		}
		w.Header().Set(headerRequestID, id)
		w.Header().Set("Cache-Control", "no-store")
		caller, err := a.authorize(r)
		if err == nil {
			err = h(w, r, caller)
		}
		if err != nil {
			a.writeError(w, r, op, id, err)
		}
	})
}

// authorize checks the bearer token and counts the request against its
// session's limit. Only valid tokens are counted, so made-up tokens cannot
// fill the limiter.
func (a *API) authorize(r *http.Request) (oauth.BearerInfo, error) {
	b, err := a.bearers.Bearer(r.Context(), r.Header.Get(headerBearer))
	if err != nil {
		return oauth.BearerInfo{}, err
	}
	// Tokens with no scope come from registrations that asked for none
	// (the AWS CLI's legacy profiles), which AWS lets use the portal; a
	// token for other purposes only (openid, say) may not.
	if len(b.Scopes) > 0 && !b.HasScope(ScopeAccountAccess) {
		return oauth.BearerInfo{}, &Error{kind: kindUnauthorized, message: "The access token was not issued for the sso:account:access scope."}
	}
	if ok, wait := a.limit.allow(b.FamilyID, a.now()); !ok {
		return oauth.BearerInfo{}, &Error{kind: kindTooManyRequests, message: "Too many requests from this session; slow down.", retryAfter: wait}
	}
	return b, nil
}

func caller(b oauth.BearerInfo) accounts.Caller {
	return accounts.Caller{UserID: b.UserID, ClientID: b.ClientID}
}

// ---- ListAccounts ----

type accountInfo struct {
	AccountID    string `json:"accountId"`
	AccountName  string `json:"accountName"`
	EmailAddress string `json:"emailAddress,omitempty"` // 1–254 characters when present
}

type listAccountsResponse struct {
	NextToken   *string       `json:"nextToken"`
	AccountList []accountInfo `json:"accountList"`
}

// listAccounts is ListAccounts: the accounts the caller holds a role in,
// by id.
func (a *API) listAccounts(w http.ResponseWriter, r *http.Request, b oauth.BearerInfo) error {
	after, limit, err := page(r)
	if err != nil {
		return err
	}
	as, err := a.accounts.UserAccounts(r.Context(), b.UserID, after, limit+1)
	if err != nil {
		return err
	}
	resp := listAccountsResponse{AccountList: []accountInfo{}}
	if len(as) > limit {
		as = as[:limit]
		resp.NextToken = nextToken(as[limit-1].ID)
	}
	for _, acc := range as {
		resp.AccountList = append(resp.AccountList, accountInfo{AccountID: acc.ID, AccountName: acc.Name, EmailAddress: acc.Email})
	}
	return writeJSON(w, resp)
}

// ---- ListAccountRoles ----

type roleInfo struct {
	RoleName  string `json:"roleName"`
	AccountID string `json:"accountId"`
}

type listAccountRolesResponse struct {
	NextToken *string    `json:"nextToken"`
	RoleList  []roleInfo `json:"roleList"`
}

// listAccountRoles is ListAccountRoles: the roles the caller holds in an
// account, by name.
func (a *API) listAccountRoles(w http.ResponseWriter, r *http.Request, b oauth.BearerInfo) error {
	accountID, err := required(r, "account_id")
	if err != nil {
		return err
	}
	after, limit, err := page(r)
	if err != nil {
		return err
	}
	roles, err := a.accounts.UserRoles(r.Context(), b.UserID, accountID, after, limit+1)
	if err != nil {
		return err
	}
	resp := listAccountRolesResponse{RoleList: []roleInfo{}}
	if len(roles) > limit {
		roles = roles[:limit]
		resp.NextToken = nextToken(roles[limit-1].RoleName)
	}
	for _, role := range roles {
		resp.RoleList = append(resp.RoleList, roleInfo{RoleName: role.RoleName, AccountID: role.AccountID})
	}
	return writeJSON(w, resp)
}

// ---- GetRoleCredentials ----

type roleCredentials struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	SessionToken    string `json:"sessionToken"`
	Expiration      int64  `json:"expiration"` // epoch milliseconds
}

type getRoleCredentialsResponse struct {
	RoleCredentials roleCredentials `json:"roleCredentials"`
}

// getRoleCredentials is GetRoleCredentials: short-term credentials for a
// role the caller holds.
func (a *API) getRoleCredentials(w http.ResponseWriter, r *http.Request, b oauth.BearerInfo) error {
	roleName, err := required(r, "role_name")
	if err != nil {
		return err
	}
	accountID, err := required(r, "account_id")
	if err != nil {
		return err
	}
	c, err := a.accounts.Credentials(r.Context(), caller(b), accountID, roleName)
	if err != nil {
		return err
	}
	return writeJSON(w, getRoleCredentialsResponse{RoleCredentials: roleCredentials{
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
		Expiration:      c.Expiration.UnixMilli(),
	}})
}

// ---- Logout ----

// logout is Logout: the token's session ends (its whole family, so the
// refresh token stops working too). The answer is 200 with no body.
func (a *API) logout(w http.ResponseWriter, r *http.Request, _ oauth.BearerInfo) error {
	if err := a.bearers.RevokeBearer(r.Context(), r.Header.Get(headerBearer)); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// ---- parameters ----

// maxParamLen bounds a query parameter: ids and names are short.
const maxParamLen = 1024

// required returns a query parameter the operation needs.
func required(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	switch {
	case v == "":
		return "", invalidRequest(name + " is required.")
	case len(v) > maxParamLen || !utf8.ValidString(v):
		return "", invalidRequest(name + " is not valid.")
	}
	return v, nil
}

// page reads next_token and max_result. A next token is the last key of the
// previous page, base64url-encoded: opaque to clients, and harmless if
// forged (it only says where a listing of the caller's own items starts).
func page(r *http.Request) (after string, limit int, err error) {
	q := r.URL.Query()
	limit = DefaultPageSize
	if v := q.Get("max_result"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return "", 0, invalidRequest("max_result must be a whole number from 1 to 100.")
		}
		limit = n
	}
	if v := q.Get("next_token"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) == 0 || len(b) > maxParamLen || !utf8.Valid(b) {
			return "", 0, invalidRequest("next_token is not a token this service issued.")
		}
		after = string(b)
	}
	return after, limit, nil
}

func nextToken(lastKey string) *string {
	t := base64.RawURLEncoding.EncodeToString([]byte(lastKey))
	return &t
}

// ---- answers ----

// writeJSON answers 200 with v.
func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", contentTypeJSON)
	writeBody(w, http.StatusOK, v)
	return nil
}

// writeBody writes v as compact JSON, without HTML escaping or a trailing
// newline, as AWS does.
func writeBody(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Cannot happen for the strings and numbers written here; never
		// send a half-built answer.
		buf.Reset()
		buf.WriteString(`{"message":"An internal error occurred."}` + "\n")
		w.Header().Set(headerErrorType, table[kindInternal].name)
		status = http.StatusInternalServerError
	}
	buf.Truncate(buf.Len() - 1)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
