package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/ssooidc/ssooidc/internal/directory"
	"github.com/ssooidc/ssooidc/internal/ratelimit"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
)

// The second factor in the browser: after a right password an enrolled
// person types a TOTP or recovery code at /signin/mfa; a person who must
// have a second factor and has none sets one up at /mfa before the session
// starts; a signed-in person can set one up at /mfa at any time. Between
// the password and the next step the browser holds a short-lived pending
// cookie, sealed by the directory and bound to its pre-session cookie.

const (
	cookiePending = "ssooidc_pending"
	pendingLife   = 10 * time.Minute // as long as the directory's seal lasts
)

// pending returns what the browser's pending cookie says.
func (h *Handler) pending(r *http.Request) (userID string, step directory.SignInStep, ok bool) {
	return h.dir.OpenPending(h.cookie(r, cookiePending), h.cookie(r, cookiePreSession))
}

// startSession signs the browser in as userID: a fresh session id (never
// one the browser had), the sign-in cookies cleared, and on to next.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, userID string) error {
	ctx := r.Context()
	if old := h.cookie(r, cookieSession); old != "" {
		if err := h.dir.EndSession(ctx, old); err != nil {
			return err
		}
	}
	value, _, err := h.dir.StartSession(ctx, userID)
	if err != nil {
		return err
	}
	h.setCookie(w, cookieSession, value, h.cfg.SessionLifetime)
	h.setCookie(w, cookiePreSession, "", 0)
	h.setCookie(w, cookiePending, "", 0)
	info := reqinfo.From(ctx)
	h.cfg.Log.InfoContext(ctx, "signed in", "request_id", info.ID, "user_id", userID, "client_ip", info.ClientIP)
	return nil
}

// waitMessage tells a person who hit a limit how long to wait, in whole
// minutes rounded up.
func waitMessage(what string, err error) string {
	wait := time.Minute
	if lim, ok := ratelimit.AsLimited(err); ok {
		wait = max(time.Minute, (lim.RetryAfter+time.Minute-1)/time.Minute*time.Minute)
	}
	return "Too many " + what + ". Wait " + roughDuration(wait) + " and try again."
}

type secondFactorPage struct {
	common
	Next  string
	CSRF  string
	Error string
}

// signinMFAForm is GET /signin/mfa?next=…: the code form.
func (h *Handler) signinMFAForm(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if _, step, ok := h.pending(r); !ok || step != directory.NeedSecondFactor {
		return toSignIn(w, r, next)
	}
	return h.render(w, http.StatusOK, "signin_mfa", secondFactorPage{
		common: common{Title: "Two-step verification"},
		Next:   next,
		CSRF:   h.dir.CSRFToken(h.cookie(r, cookiePreSession)),
	})
}

// signinMFA is POST /signin/mfa: check the code, then start the session.
func (h *Handler) signinMFA(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	next := safeNext(r.PostForm.Get("next"))
	pre := h.cookie(r, cookiePreSession)
	if err := h.checkCSRF(r, pre); err != nil {
		return expiredSignIn(next)
	}
	userID, step, ok := h.pending(r)
	if !ok || step != directory.NeedSecondFactor {
		return toSignIn(w, r, next)
	}
	info := reqinfo.From(ctx)
	err := h.dir.VerifySecondFactor(ctx, userID, r.PostForm.Get("code"), directory.Attempt{IP: info.ClientIP})
	page := secondFactorPage{common: common{Title: "Two-step verification"}, Next: next, CSRF: h.dir.CSRFToken(pre)}
	switch {
	case errors.As(err, new(*ratelimit.Limited)):
		page.Error = waitMessage("attempts", err)
		return h.render(w, http.StatusTooManyRequests, "signin_mfa", page)
	case errors.Is(err, directory.ErrBadSecondFactor):
		h.cfg.Log.InfoContext(ctx, "second factor refused", "request_id", info.ID, "client_ip", info.ClientIP)
		page.Error = "That code is not right, or was used already. Type the code your app shows now, or one of your recovery codes."
		return h.render(w, http.StatusBadRequest, "signin_mfa", page)
	case err != nil:
		return err
	}
	if err := h.startSession(w, r, userID); err != nil {
		return err
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// expiredSignIn is the answer to a sign-in form whose token does not match.
func expiredSignIn(next string) error {
	return &pageError{
		status:  http.StatusForbidden,
		title:   "This form has expired",
		message: "The sign-in form was sent from another site, or it has expired. Please sign in again.",
		link:    "/signin?next=" + url.QueryEscape(next),
	}
}

// mfaUser is whose second factor /mfa manages: the signed-in person, or
// the one who must enrol before the session starts (pending).
type mfaUser struct {
	id      string
	name    string // for the header; empty while pending
	anchor  string // what the CSRF token is bound to
	pending bool
}

func (h *Handler) mfaUser(r *http.Request) (*mfaUser, error) {
	// A sign-in under way in this browser comes first: whoever just typed
	// that password is the one to enrol, whatever session was open before.
	if id, step, ok := h.pending(r); ok && step == directory.NeedEnrolment {
		return &mfaUser{id: id, anchor: h.cookie(r, cookiePreSession), pending: true}, nil
	}
	s, err := h.session(r)
	if err != nil || s == nil {
		return nil, err
	}
	return &mfaUser{id: s.userID, name: s.name, anchor: s.cookie}, nil
}

type mfaPage struct {
	common
	Enrolled     bool
	Required     bool
	RecoveryLeft int
	MustEnrol    bool
	QR           template.URL // a data: URI of the QR code's PNG
	Secret       string       // grouped for typing
	Next         string
	CSRF         string
	Error        string
}

type recoveryCodesPage struct {
	common
	Codes []string
	Next  string
}

// mfa is GET /mfa?next=…: the state of the person's second factor, or its
// set-up: a QR code of the otpauth URI and the seed in text.
func (h *Handler) mfa(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	who, err := h.mfaUser(r)
	if err != nil {
		return err
	}
	if who == nil {
		return toSignIn(w, r, "/mfa?next="+url.QueryEscape(next))
	}
	return h.mfaSetup(w, r, who, next, "", http.StatusOK)
}

func (h *Handler) mfaSetup(w http.ResponseWriter, r *http.Request, who *mfaUser, next, msg string, status int) error {
	ctx := r.Context()
	st, err := h.dir.MFAStatus(ctx, who.id)
	if err != nil {
		return err
	}
	page := mfaPage{
		common:    common{Title: "Two-step verification", User: who.name},
		Enrolled:  st.Enrolled,
		Required:  st.Required,
		MustEnrol: who.pending,
		Next:      next,
		CSRF:      h.dir.CSRFToken(who.anchor),
		Error:     msg,
	}
	if st.Enrolled {
		page.RecoveryLeft = st.RecoveryCodesLeft
		return h.render(w, status, "mfa", page)
	}
	setup, err := h.dir.BeginTOTP(ctx, who.id)
	if err != nil {
		return err
	}
	code, err := qr.Encode(setup.URI, qr.M)
	if err != nil {
		return err
	}
	code.Scale = 4
	page.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG()))
	page.Secret = group(setup.Secret, 4)
	return h.render(w, status, "mfa", page)
}

// group writes s in space-separated groups of n, for reading and typing.
func group(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}

// mfaConfirm is POST /mfa: the first code turns the second factor on; the
// recovery codes are shown once. A sign-in that had to enrol first
// becomes a session here.
func (h *Handler) mfaConfirm(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	next := safeNext(r.PostForm.Get("next"))
	who, err := h.mfaUser(r)
	if err != nil {
		return err
	}
	if who == nil {
		return toSignIn(w, r, "/mfa?next="+url.QueryEscape(next))
	}
	if err := h.checkCSRF(r, who.anchor); err != nil {
		return err
	}
	codes, err := h.dir.ConfirmTOTP(ctx, who.id, r.PostForm.Get("code"))
	switch {
	case errors.Is(err, directory.ErrBadSecondFactor):
		return h.mfaSetup(w, r, who, next, "That code is not right. Type the 6-digit code your app shows now.", http.StatusBadRequest)
	case errors.Is(err, directory.ErrAlreadyEnrolled):
		return h.mfaSetup(w, r, who, next, "", http.StatusOK)
	case err != nil:
		return err
	}
	if who.pending {
		if _, err := h.dir.CompleteEnrolment(ctx, who.id); err != nil {
			if errors.Is(err, directory.ErrBadCredentials) {
				return toSignIn(w, r, next)
			}
			return err
		}
		if err := h.startSession(w, r, who.id); err != nil {
			return err
		}
	}
	info := reqinfo.From(ctx)
	h.cfg.Log.InfoContext(ctx, "second factor enrolled", "request_id", info.ID, "user_id", who.id)
	return h.render(w, http.StatusOK, "mfa_codes", recoveryCodesPage{
		common: common{Title: "Save your recovery codes", User: who.name},
		Codes:  codes,
		Next:   next,
	})
}
