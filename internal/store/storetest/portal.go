package storetest

import (
	"testing"

	"github.com/ssooidc/ssooidc/internal/store"
)

// portalTests are the conformance tests of store.Portal.
var portalTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{}
