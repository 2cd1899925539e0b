package oauth

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// ---- StartDeviceAuthorization ----

// StartRequest is AWS StartDeviceAuthorization (RFC 8628 §3.1).
type StartRequest struct {
	ClientID     string
	ClientSecret string
	// PublicClient: no secret was sent (RFC dialect, auth method none).
	PublicClient bool
	// StartURL: empty (RFC dialect) records the instance's first one.
	StartURL string
	// Scopes requested (RFC 8628 §3.1); none: the client's registered ones.
	Scopes []string
	// Request context shown on the consent page.
	RequestIP string
	UserAgent string
}

// DeviceAuthorization is the answer (RFC 8628 §3.2).
type DeviceAuthorization struct {
	DeviceCode              string
	UserCode                string // XXXX-XXXX
	VerificationURI         string
	VerificationURIComplete string
	ExpiresIn               time.Duration
	Interval                time.Duration
}

// StartDeviceAuthorization authenticates the client and starts a grant.
func (e *Engine) StartDeviceAuthorization(ctx context.Context, req StartRequest) (DeviceAuthorization, error) {
	if err := e.limitDeviceStart(ctx, req.RequestIP); err != nil {
		return DeviceAuthorization{}, err
	}
	c, err := e.authenticateClient(ctx, req.ClientID, req.ClientSecret, req.PublicClient)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	if !clientAllows(c, GrantDeviceCode) {
		return DeviceAuthorization{}, Errorf(UnauthorizedClient, "This client is not registered for the device code grant.")
	}
	if err := e.checkDevicePolicy(ctx, c.ID, c.Name); err != nil {
		return DeviceAuthorization{}, err
	}
	startURL, scopes, err := e.deviceRequest(c, req)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	now := e.now()
	// Collisions are astronomically rare (a 256-bit device code, a 34-bit
	// user code unique among stored grants); retry a few times anyway.
	for attempt := 0; ; attempt++ {
		deviceCode := secret.OrderedToken(prefixDeviceCode, now)
		userCode := newUserCode()
		g := store.DeviceGrant{
			DeviceCodeHash:   e.keys.OrderedHash(hashDeviceCode, prefixDeviceCode, deviceCode),
			UserCodeHash:     e.keys.Hash(hashUserCode, userCode),
			ClientID:         c.ID,
			Scopes:           scopes,
			StartURL:         startURL,
			Status:           store.DevicePending,
			Interval:         e.cfg.DeviceInterval,
			CreatedAt:        now,
			ExpiresAt:        now.Add(e.cfg.DeviceCodeLifetime),
			RequestIP:        req.RequestIP,
			RequestUserAgent: truncate(req.UserAgent, 512),
		}
		err := e.store.CreateDeviceGrant(ctx, g)
		if errors.Is(err, store.ErrAlreadyExists) && attempt < 5 {
			continue
		}
		if err != nil {
			return DeviceAuthorization{}, internalError("create device grant", err)
		}
		shown := FormatUserCode(userCode)
		e.record(ctx, audit.DeviceStarted, c.ID, "", "user_code "+shown)
		return DeviceAuthorization{
			DeviceCode:              deviceCode,
			UserCode:                shown,
			VerificationURI:         e.cfg.Issuer + "/device",
			VerificationURIComplete: e.cfg.Issuer + "/device?user_code=" + url.QueryEscape(shown),
			ExpiresIn:               e.cfg.DeviceCodeLifetime,
			Interval:                e.cfg.DeviceInterval,
		}, nil
	}
}

func (e *Engine) deviceToken(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	if req.DeviceCode == "" {
		return TokenResponse{}, Errorf(InvalidRequest, "deviceCode is required for the device code grant.")
	}
	c, err := e.authenticateClient(ctx, req.ClientID, req.ClientSecret, req.PublicClient)
	if err != nil {
		return TokenResponse{}, err
	}
	if !clientAllows(c, GrantDeviceCode) {
		return TokenResponse{}, Errorf(UnauthorizedClient, "This client is not registered for the device code grant.")
	}
	now := e.now()
	codeHash := e.keys.OrderedHash(hashDeviceCode, prefixDeviceCode, req.DeviceCode)
	g, outcome, err := e.store.PollDeviceGrant(ctx, codeHash, c.ID, now, slowDownStep)
	if errors.Is(err, store.ErrNotFound) {
		return TokenResponse{}, Errorf(InvalidGrant, "Invalid device code provided.")
	}
	if err != nil {
		return TokenResponse{}, internalError("poll device grant", err)
	}
	switch {
	case g.Status == store.DeviceRedeemed:
		return TokenResponse{}, Errorf(InvalidGrant, "The device code has already been used.")
	case !now.Before(g.ExpiresAt):
		e.record(ctx, audit.DeviceExpired, c.ID, g.UserID, "")
		return TokenResponse{}, Errorf(ExpiredToken, "The device code has expired.")
	case g.Status == store.DeviceDenied:
		return TokenResponse{}, Errorf(AccessDenied, "The request was denied.")
	case g.Status == store.DevicePending && outcome.SlowDown:
		return TokenResponse{}, Errorf(SlowDown, "Client is polling too fast; the interval is now %d seconds.", int(g.Interval/time.Second))
	case g.Status == store.DevicePending:
		return TokenResponse{}, Errorf(AuthorizationPending, "Authorization is still pending.")
	}
	// Approved: mint the first pair and redeem the grant in one step.
	if err := e.checkUserActive(ctx, g.UserID); err != nil {
		return TokenResponse{}, err
	}
	set, resp := e.mint(store.TokenFamily{
		ID:       secret.ID(16),
		ClientID: c.ID,
		UserID:   g.UserID,
		Scopes:   g.Scopes,
		AuthTime: g.DecidedAt,
	}, now)
	err = e.store.RedeemDeviceGrant(ctx, codeHash, set)
	if errors.Is(err, store.ErrConsumed) {
		return TokenResponse{}, Errorf(InvalidGrant, "The device code has already been used.")
	}
	if err != nil {
		return TokenResponse{}, internalError("redeem device grant", err)
	}
	e.record(ctx, audit.DeviceRedeemed, c.ID, g.UserID, "")
	e.record(ctx, audit.TokenIssued, c.ID, g.UserID, GrantDeviceCode)
	return resp, nil
}

// ---- Device verification (the browser side) ----

// DevicePrompt is what the consent page shows about a pending request.
type DevicePrompt struct {
	UserCode           string // XXXX-XXXX
	ClientName         string
	ClientRegisteredAt time.Time
	Scopes             []string
	ExpiresAt          time.Time
	RequestIP          string
	RequestUserAgent   string
}

// errBadUserCode is the one answer for a code that is malformed, unknown,
// expired or already decided: a guesser learns nothing about valid codes.
func errBadUserCode() *Error {
	return Errorf(InvalidGrant, "The code is not valid or has expired.")
}

// DevicePrompt looks up a pending, live grant by the code a person typed.
func (e *Engine) DevicePrompt(ctx context.Context, typed string) (DevicePrompt, error) {
	code, ok := NormalizeUserCode(typed)
	if !ok {
		return DevicePrompt{}, errBadUserCode()
	}
	g, err := e.store.GetDeviceGrantByUserCode(ctx, e.keys.Hash(hashUserCode, code))
	if errors.Is(err, store.ErrNotFound) {
		return DevicePrompt{}, errBadUserCode()
	}
	if err != nil {
		return DevicePrompt{}, internalError("get device grant", err)
	}
	if g.Status != store.DevicePending || !e.now().Before(g.ExpiresAt) {
		return DevicePrompt{}, errBadUserCode()
	}
	c, err := e.store.GetClient(ctx, g.ClientID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return DevicePrompt{}, errBadUserCode()
		}
		return DevicePrompt{}, internalError("get client", err)
	}
	return DevicePrompt{
		UserCode:           FormatUserCode(code),
		ClientName:         c.Name,
		ClientRegisteredAt: c.CreatedAt,
		Scopes:             g.Scopes,
		ExpiresAt:          g.ExpiresAt,
		RequestIP:          g.RequestIP,
		RequestUserAgent:   g.RequestUserAgent,
	}, nil
}

// DecideDevice approves or denies the pending grant with that user code on
// behalf of userID.
func (e *Engine) DecideDevice(ctx context.Context, typed, userID string, approve bool) error {
	code, ok := NormalizeUserCode(typed)
	if !ok {
		return errBadUserCode()
	}
	g, err := e.store.DecideDeviceGrant(ctx, e.keys.Hash(hashUserCode, code), userID, approve, e.now())
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConsumed), errors.Is(err, store.ErrExpired):
		return errBadUserCode()
	case err != nil:
		return internalError("decide device grant", err)
	}
	t := audit.DeviceDenied
	if approve {
		t = audit.DeviceApproved
	}
	e.record(ctx, t, g.ClientID, userID, "user_code "+FormatUserCode(code))
	return nil
}
