package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ssooidc/ssooidc/internal/directory"
	"github.com/ssooidc/ssooidc/internal/ratelimit"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
	"github.com/ssooidc/ssooidc/internal/secret"
)

type signinPage struct {
	common
	Next     string
	Username string
	CSRF     string
	Error    string
}

// preSession returns the browser's pre-session value, minting one (and
// setting its cookie) when it has none. Before sign-in there is no session
// to bind a CSRF token to; the pre-session cookie is the double-submit
// anchor, and with SameSite=Lax (and __Host- under https) another site can
// neither read nor plant it.
func (h *Handler) preSession(w http.ResponseWriter, r *http.Request) string {
	v := h.cookie(r, cookiePreSession)
	if strings.HasPrefix(v, prefixPreSession) && len(v) <= 128 {
		return v
	}
	v = secret.Token(prefixPreSession)
	h.setCookie(w, cookiePreSession, v, preSessionLife)
	return v
}

// signinForm is GET /signin?next=…
func (h *Handler) signinForm(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	s, err := h.session(r)
	if err != nil {
		return err
	}
	if s != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	pre := h.preSession(w, r)
	return h.render(w, http.StatusOK, "signin", signinPage{
		common: common{Title: "Sign in"},
		Next:   next,
		CSRF:   h.dir.CSRFToken(pre),
	})
}

// signin is POST /signin: check the pre-session token, authenticate, start
// a fresh session (never reusing an id the browser already had) and go on
// to next.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	next := safeNext(r.PostForm.Get("next"))
	if err := h.checkCSRF(r, h.cookie(r, cookiePreSession)); err != nil {
		return &pageError{
			status:  http.StatusForbidden,
			title:   "This form has expired",
			message: "The sign-in form was sent from another site, or it has expired. Please sign in again.",
			link:    "/signin?next=" + url.QueryEscape(next),
		}
	}
	name := r.PostForm.Get("username")
	info := reqinfo.From(ctx)
	res, err := h.dir.SignIn(ctx, name, r.PostForm.Get("password"), directory.Attempt{IP: info.ClientIP})
	if failed := errors.Is(err, directory.ErrBadCredentials); failed || errors.As(err, new(*ratelimit.Limited)) {
		// One message for every failure: it must not tell whether the
		// user exists or is locked.
		page, status := "Wrong user name or password.", http.StatusBadRequest
		if !failed {
			page, status = waitMessage("sign-in attempts", err), http.StatusTooManyRequests
		}
		h.cfg.Log.InfoContext(ctx, "sign-in failed", "request_id", info.ID, "client_ip", info.ClientIP, "throttled", !failed)
		if len(name) > 64 {
			name = ""
		}
		return h.render(w, status, "signin", signinPage{
			common:   common{Title: "Sign in"},
			Next:     next,
			Username: name,
			CSRF:     h.dir.CSRFToken(h.cookie(r, cookiePreSession)),
			Error:    page,
		})
	}
	if err != nil {
		return err
	}
	switch res.Next {
	case directory.NeedSecondFactor, directory.NeedEnrolment:
		// The pre-session cookie stays: the pending state is bound to it.
		h.setCookie(w, cookiePending, h.dir.SealPending(res.User.ID, res.Next, h.cookie(r, cookiePreSession)), pendingLife)
		to := "/signin/mfa?next="
		if res.Next == directory.NeedEnrolment {
			to = "/mfa?next="
		}
		http.Redirect(w, r, to+url.QueryEscape(next), http.StatusSeeOther)
		return nil
	}
	if err := h.startSession(w, r, res.User.ID); err != nil {
		return err
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

type signoutPage struct {
	common
	CSRF      string
	SignedOut bool
}

// signoutForm is GET /signout: a button, since a GET must not change state.
func (h *Handler) signoutForm(w http.ResponseWriter, r *http.Request) error {
	s, err := h.session(r)
	if err != nil {
		return err
	}
	if s == nil {
		return h.render(w, http.StatusOK, "signout", signoutPage{common: common{Title: "Signed out"}, SignedOut: true})
	}
	return h.render(w, http.StatusOK, "signout", signoutPage{
		common: common{Title: "Sign out", User: s.name},
		CSRF:   h.dir.CSRFToken(s.cookie),
	})
}

// signout is POST /signout: end the session in the store and clear the
// cookie.
func (h *Handler) signout(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s, err := h.session(r)
	if err != nil {
		return err
	}
	if s != nil {
		if err := h.checkCSRF(r, s.cookie); err != nil {
			return err
		}
		if err := h.dir.SignOut(ctx, s.cookie, s.userID); err != nil {
			return err
		}
		h.cfg.Log.InfoContext(ctx, "signed out", "request_id", reqinfo.From(ctx).ID, "user_id", s.userID)
	}
	h.setCookie(w, cookieSession, "", 0)
	return h.render(w, http.StatusOK, "signout", signoutPage{common: common{Title: "Signed out"}, SignedOut: true})
}
