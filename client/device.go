package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// slowDownStep is what RFC 8628 §3.5 adds to the interval on slow_down.
const slowDownStep = 5 * time.Second

// maxPollFailures is how many transport errors or 5xx answers in a row the
// poll loop rides out before giving up.
const maxPollFailures = 3

// PollToken waits for the person to approve a device authorization (RFC
// 8628 §3.4–3.5). It polls CreateToken once at once and then every
// interval; authorization_pending keeps polling, slow_down adds 5 s to the
// interval, up to three transport errors or 5xx answers in a row are
// retried. It returns the token, or an error matching ErrAccessDenied,
// ErrExpiredToken (also when da.ExpiresAt, if set, passes without a
// decision), the
// context's error, or the server's.
func (c *Client) PollToken(ctx context.Context, reg *Registration, da *DeviceAuthorization) (*Token, error) {
	interval := da.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	failures := 0
	for {
		tok, err := c.CreateToken(ctx, reg, TokenRequest{GrantType: GrantDeviceCode, DeviceCode: da.DeviceCode})
		switch {
		case err == nil:
			return tok, nil
		case errors.Is(err, ErrAuthorizationPending):
			failures = 0
		case errors.Is(err, ErrSlowDown):
			failures = 0
			interval += slowDownStep
		case errors.Is(err, ErrUnreachable), errors.Is(err, ErrServer):
			failures++
			if failures >= maxPollFailures {
				return nil, err
			}
		default:
			return nil, err
		}
		wait := interval
		if !da.ExpiresAt.IsZero() {
			left := da.ExpiresAt.Sub(c.now())
			if left <= 0 {
				return nil, fmt.Errorf("device authorization: %w: the code %s was not approved before it expired", ErrExpiredToken, da.UserCode)
			}
			wait = min(wait, left)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("device authorization: waiting for approval: %w", context.Cause(ctx))
		case <-timer.C:
		}
	}
}
