package awsapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ssooidc/ssooidc/internal/oauth"
)

func TestHeaderKeysAreCanonical(t *testing.T) {
	for name, key := range map[string]string{headerRequestID: keyRequestID, headerErrorType: keyErrorType} {
		if got := http.CanonicalHeaderKey(name); got != key {
			t.Errorf("CanonicalHeaderKey(%q) = %q, the constant says %q", name, got, key)
		}
	}
}

// TestPollBodiesAreTheEncodedBodies: an error answer is byte for byte the
// same whether its body was kept or encoded, the first time and every
// time after, for kept and unkept kinds and beyond the bound on kept
// bodies.
func TestPollBodiesAreTheEncodedBodies(t *testing.T) {
	a := newHarness(t).api
	pending := oauth.Errorf(oauth.AuthorizationPending, "Authorization is still pending.")
	errs := []*oauth.Error{pending}
	for i := range maxErrorBodies + 10 {
		errs = append(errs,
			oauth.Errorf(oauth.SlowDown, "Client is polling too fast; the interval is now %d seconds.", i),
			oauth.Errorf(oauth.InvalidGrant, "<%d> \"é\" \u2028", i))
	}
	errs = append(errs, &oauth.Error{Kind: oauth.Internal, Description: "cause"})
	for round := range 2 {
		for _, oe := range errs {
			rec := httptest.NewRecorder()
			a.writeError(rec, httptest.NewRequest(http.MethodPost, "/token", nil), "CreateToken", "id", oe)
			buf, err := encode(errorBody{Error: oe.Kind.RFCCode(), ErrorDescription: oe.WireDescription()})
			if err != nil {
				t.Fatal(err)
			}
			want := buf.String()
			release(buf)
			if got := rec.Body.String(); got != want {
				t.Errorf("round %d, %s %q: body %s, want %s", round, oe.Kind, oe.Description, got, want)
			}
			if rec.Code != oe.Kind.AWSStatus() || rec.Header().Get(headerErrorType) != oe.Kind.AWSException() || rec.Header().Get("Content-Type") != contentTypeJSON {
				t.Errorf("round %d, %s: %d %v", round, oe.Kind, rec.Code, rec.Header())
			}
		}
	}
	if n := a.pollBodies.n.Load(); n != maxErrorBodies {
		t.Errorf("%d bodies kept, want the bound %d", n, maxErrorBodies)
	}
	if a.pollBodies.get(errorBody{Error: "authorization_pending", ErrorDescription: pending.Description}) == nil {
		t.Error("the pending body was not kept")
	}
	if a.pollBodies.get(errorBody{Error: "invalid_grant", ErrorDescription: fmt.Sprintf("<%d> \"é\" \u2028", 0)}) != nil {
		t.Error("a body of a kind other than pending and slow_down was kept")
	}
}
