package oauth

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/ratelimit"
)

// Limits are the engine's defences against floods and guessing. The zero
// value limits nothing.
type Limits struct {
	// Limiter counts attempts in the store; nil turns every rate limit off.
	Limiter *ratelimit.Limiter
	// Grants counts live device grants, for MaxLiveDeviceGrantsPerClient.
	Grants LiveGrantCounter

	// RegisterPerIP limits RegisterClient per client address group;
	// DeviceStartPerIP limits StartDeviceAuthorization likewise. Beyond
	// them the answer is SlowDown (SlowDownException, slow_down).
	RegisterPerIP    ratelimit.Rule
	DeviceStartPerIP ratelimit.Rule
	// MaxLiveDeviceGrantsPerClient bounds a client's pending, unexpired
	// device grants; 0: no bound.
	MaxLiveDeviceGrantsPerClient int

	// Failed user-code entries on the verification page (RFC 8628 §5.1),
	// per client address group, per signed-in person, and for the whole
	// instance.
	CodePerIP   ratelimit.Rule
	CodePerUser ratelimit.Rule
	CodeGlobal  ratelimit.Rule

	// DeviceGrantDisabled switches the device grant off: RFC 8628 §5.4
	// phishing needs it, and an instance whose clients all use the
	// authorization code flow can do without it.
	DeviceGrantDisabled bool
	// DeviceGrantClients, when not empty, are the only clients (by id or
	// by registered name) that may start a device authorization. Names
	// are chosen by whoever registers, so this keeps well-behaved tools
	// apart rather than stopping an attacker.
	DeviceGrantClients []string
}

// LiveGrantCounter counts a client's pending, unexpired device grants.
type LiveGrantCounter interface {
	CountLiveDeviceGrants(ctx context.Context, clientID string, now time.Time) (int, error)
}

// Rate-limit scopes.
const (
	scopeRegisterIP    = "register-ip"
	scopeDeviceStartIP = "device-start-ip"
	scopeCodeIP        = "code-ip"
	scopeCodeUser      = "code-user"
	scopeCodeGlobal    = "code-global"
)

// slowDown turns a refusal of the limiter into the engine's error, and
// records the overflow that started the wait.
func (e *Engine) slowDown(ctx context.Context, err error, clientID, what string) error {
	lim, ok := ratelimit.AsLimited(err)
	if !ok {
		return internalError("rate limit", err)
	}
	if lim.Overflow {
		e.record(ctx, audit.RateLimited, clientID, "", lim.Scope)
	}
	return &Error{Kind: SlowDown, Description: fmt.Sprintf("Too many %s from this address; try again in %s.", what, waitText(lim.RetryAfter)), Err: lim}
}

// waitText writes a wait for people: "30 seconds", "5 minutes".
func waitText(d time.Duration) string {
	switch {
	case d <= time.Second:
		return "1 second"
	case d < 2*time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Round(time.Second)/time.Second))
	case d < 2*time.Hour:
		return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
	default:
		return fmt.Sprintf("%d hours", int((d+time.Hour-1)/time.Hour))
	}
}

// limitRegister counts a RegisterClient from ip.
func (e *Engine) limitRegister(ctx context.Context, ip string) error {
	l := e.cfg.Limits
	if _, err := l.Limiter.Hit(ctx, ratelimit.Check{Scope: scopeRegisterIP, Subject: ratelimit.IPGroup(ip), Rule: l.RegisterPerIP}); err != nil {
		return e.slowDown(ctx, err, "", "registrations")
	}
	return nil
}

// limitDeviceStart counts a StartDeviceAuthorization from ip.
func (e *Engine) limitDeviceStart(ctx context.Context, ip string) error {
	l := e.cfg.Limits
	if _, err := l.Limiter.Hit(ctx, ratelimit.Check{Scope: scopeDeviceStartIP, Subject: ratelimit.IPGroup(ip), Rule: l.DeviceStartPerIP}); err != nil {
		return e.slowDown(ctx, err, "", "device authorizations")
	}
	return nil
}

// checkDevicePolicy applies the instance's device grant policy to an
// authenticated client about to start a grant.
func (e *Engine) checkDevicePolicy(ctx context.Context, clientID, clientName string) error {
	l := e.cfg.Limits
	if l.DeviceGrantDisabled {
		return Errorf(UnauthorizedClient, "The device code grant is not enabled on this server.")
	}
	if len(l.DeviceGrantClients) > 0 && !slices.Contains(l.DeviceGrantClients, clientID) && !slices.Contains(l.DeviceGrantClients, clientName) {
		return Errorf(UnauthorizedClient, "This client may not use the device code grant on this server.")
	}
	if l.MaxLiveDeviceGrantsPerClient > 0 && l.Grants != nil {
		n, err := l.Grants.CountLiveDeviceGrants(ctx, clientID, e.now())
		if err != nil {
			return internalError("count live device grants", err)
		}
		if n >= l.MaxLiveDeviceGrantsPerClient {
			e.record(ctx, audit.RateLimited, clientID, "", "device-grants-per-client")
			return Errorf(SlowDown, "This client has too many device authorizations waiting for approval; try again once some have been approved or have expired.")
		}
	}
	return nil
}

// CodeAttempt is who types a user code on the verification page: the
// client's address and the signed-in person.
type CodeAttempt struct {
	IP     string
	UserID string
}

// hitCode counts one user-code entry; the caller takes it back (Undo)
// when the code was good.
func (e *Engine) hitCode(ctx context.Context, who CodeAttempt) (*ratelimit.Ticket, error) {
	l := e.cfg.Limits
	t, err := l.Limiter.Hit(ctx,
		ratelimit.Check{Scope: scopeCodeIP, Subject: ratelimit.IPGroup(who.IP), Rule: l.CodePerIP},
		ratelimit.Check{Scope: scopeCodeUser, Subject: who.UserID, Rule: l.CodePerUser},
		ratelimit.Check{Scope: scopeCodeGlobal, Subject: "all", Rule: l.CodeGlobal},
	)
	if err != nil {
		lim, ok := ratelimit.AsLimited(err)
		if !ok {
			return nil, internalError("rate limit", err)
		}
		if lim.Overflow {
			e.record(ctx, audit.RateLimited, "", who.UserID, lim.Scope)
		}
		return nil, &Error{Kind: SlowDown, Description: "Too many codes were tried; wait " + waitText(lim.RetryAfter) + " before trying again.", Err: lim}
	}
	return t, nil
}

// settleCode takes a code entry back unless the code was bad: only
// failures use up the allowance, so a person approving many devices is
// never slowed down, while a guesser is.
func settleCode(ctx context.Context, t *ratelimit.Ticket, err error) {
	if err == nil || AsError(err).Kind != InvalidGrant {
		t.Undo(context.WithoutCancel(ctx))
	}
}

// LookupUserCode is DevicePrompt for a code a person typed, under the
// code-guessing limits: a SlowDown error (wrapping a *ratelimit.Limited)
// when who has tried too many bad codes.
func (e *Engine) LookupUserCode(ctx context.Context, typed string, who CodeAttempt) (DevicePrompt, error) {
	t, err := e.hitCode(ctx, who)
	if err != nil {
		return DevicePrompt{}, err
	}
	p, err := e.DevicePrompt(ctx, typed)
	settleCode(ctx, t, err)
	return p, err
}

// DecideUserCode is DecideDevice on behalf of who.UserID, under the
// code-guessing limits.
func (e *Engine) DecideUserCode(ctx context.Context, typed string, approve bool, who CodeAttempt) error {
	t, err := e.hitCode(ctx, who)
	if err != nil {
		return err
	}
	err = e.DecideDevice(ctx, typed, who.UserID, approve)
	settleCode(ctx, t, err)
	return err
}
