package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
)

type enterCodePage struct {
	common
	Error string
}

type deviceConsentPage struct {
	common
	UserCode   string
	ClientName string
	Registered string
	RequestIP  string
	UserAgent  string
	Scopes     []string
	ExpiresIn  string
	CSRF       string
}

type resultPage struct {
	common
	Message string
}

// badCode is the one page for a code that is malformed, unknown, expired
// or already used (RFC 8628 §5.1: nothing tells a guesser which).
func (h *Handler) badCode(w http.ResponseWriter, r *http.Request, user string) error {
	ctx := r.Context()
	info := reqinfo.From(ctx)
	h.cfg.Log.InfoContext(ctx, "device code not accepted", "request_id", info.ID, "client_ip", info.ClientIP)
	return h.render(w, http.StatusBadRequest, "device", enterCodePage{
		common: common{Title: "Enter the code", User: user},
		Error:  "That code is not valid or has expired. Check the code shown on your device and try again.",
	})
}

// tooManyCodes is the page for a person (or address) that tried too many
// bad codes (RFC 8628 §5.1): it says how long to wait, and nothing about
// the code typed.
func (h *Handler) tooManyCodes(w http.ResponseWriter, r *http.Request, user string, err error) error {
	ctx := r.Context()
	info := reqinfo.From(ctx)
	h.cfg.Log.InfoContext(ctx, "device code entry throttled", "request_id", info.ID, "client_ip", info.ClientIP)
	return h.render(w, http.StatusTooManyRequests, "device", enterCodePage{
		common: common{Title: "Enter the code", User: user},
		Error:  waitMessage("codes were tried", err),
	})
}

// device is GET /device and GET /device?user_code=… (RFC 8628 §3.3: the
// verification URI, and the complete one that skips typing).
func (h *Handler) device(w http.ResponseWriter, r *http.Request) error {
	typed := strings.TrimSpace(r.URL.Query().Get("user_code"))
	s, err := h.session(r)
	if err != nil {
		return err
	}
	user := ""
	if s != nil {
		user = s.name
	}
	if typed == "" {
		return h.render(w, http.StatusOK, "device", enterCodePage{common: common{Title: "Enter the code", User: user}})
	}
	if s == nil {
		return toSignIn(w, r, deviceURL(typed))
	}
	info := reqinfo.From(r.Context())
	p, err := h.engine.LookupUserCode(r.Context(), typed, oauth.CodeAttempt{IP: info.ClientIP, UserID: s.userID})
	if err != nil {
		switch oauth.AsError(err).Kind {
		case oauth.Internal:
			return err
		case oauth.SlowDown:
			return h.tooManyCodes(w, r, user, err)
		}
		return h.badCode(w, r, user)
	}
	h.cfg.Log.InfoContext(r.Context(), "device consent shown", "request_id", info.ID, "user_id", s.userID, "client_name", truncate(p.ClientName, 64))
	now := h.cfg.Now()
	return h.render(w, http.StatusOK, "device_consent", deviceConsentPage{
		common:     common{Title: "Approve " + p.ClientName + "?", User: user},
		UserCode:   p.UserCode,
		ClientName: p.ClientName,
		Registered: whenAgo(p.ClientRegisteredAt, now),
		RequestIP:  orUnknown(p.RequestIP),
		UserAgent:  orUnknown(p.RequestUserAgent),
		Scopes:     p.Scopes,
		ExpiresIn:  roughDuration(p.ExpiresAt.Sub(now)),
		CSRF:       h.dir.CSRFToken(s.cookie),
	})
}

// deviceDecide is POST /device/decide: approve or deny the grant.
func (h *Handler) deviceDecide(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	typed := strings.TrimSpace(r.PostForm.Get("user_code"))
	s, err := h.session(r)
	if err != nil {
		return err
	}
	if s == nil {
		// The session ended while the page was open: sign in again, then
		// see the same request.
		return toSignIn(w, r, deviceURL(typed))
	}
	if err := h.checkCSRF(r, s.cookie); err != nil {
		return err
	}
	var approve bool
	switch r.PostForm.Get("action") {
	case "allow":
		approve = true
	case "deny":
	default:
		return &pageError{status: http.StatusBadRequest, title: "Bad request", message: "Choose Allow or Deny.", link: deviceURL(typed)}
	}
	who := oauth.CodeAttempt{IP: reqinfo.From(ctx).ClientIP, UserID: s.userID}
	if err := h.engine.DecideUserCode(ctx, typed, approve, who); err != nil {
		switch oauth.AsError(err).Kind {
		case oauth.Internal:
			return err
		case oauth.SlowDown:
			return h.tooManyCodes(w, r, s.name, err)
		}
		return h.badCode(w, r, s.name)
	}
	if !approve {
		return h.render(w, http.StatusOK, "result", resultPage{
			common:  common{Title: "Request denied", User: s.name},
			Message: "The request was denied and the device gets no access. You may close this window.",
		})
	}
	return h.render(w, http.StatusOK, "result", resultPage{
		common:  common{Title: "Request approved", User: s.name},
		Message: "Your device is now signed in. You may close this window.",
	})
}

// deviceURL is the page for a typed code; a code that normalizes is shown
// in its canonical form, anything else is cut short.
func deviceURL(typed string) string {
	if code, ok := oauth.NormalizeUserCode(typed); ok {
		typed = oauth.FormatUserCode(code)
	} else if len(typed) > 64 {
		typed = typed[:64]
	}
	if typed == "" {
		return "/device"
	}
	return "/device?user_code=" + url.QueryEscape(typed)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// whenAgo shows a time in UTC with how long ago it was: a client that
// registered a minute ago is a hint the person should look twice.
func whenAgo(t, now time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC") + " (" + roughDuration(now.Sub(t)) + " ago)"
}

func roughDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return fmt.Sprintf("1 %s", unit)
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return plural(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	default:
		return plural(int64(d/(24*time.Hour)), "day")
	}
}
