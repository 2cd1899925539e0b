package web

import (
	"net/http"
	"net/url"
)

// authorizePost is POST /oauth2/authorize: an authorization request sent
// as a form (OpenID Connect Core §3.1.2.1), handled exactly as the query of
// GET /authorize. It changes nothing by itself (the decision is POST
// /authorize/decide, which is guarded), so it is not refused cross-origin:
// a relying party's page posting to it is the point.
func (h *Handler) authorizePost(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return &pageError{status: http.StatusBadRequest, title: "Bad request", message: "The form could not be read.", cause: err}
	}
	return h.authorize(w, r)
}

// authorizeParamsOf is an authorization request's parameters: the form
// body of a POST (without the query), the query of a GET.
func authorizeParamsOf(r *http.Request) url.Values {
	if r.Method == http.MethodPost {
		return r.PostForm
	}
	return r.URL.Query()
}
