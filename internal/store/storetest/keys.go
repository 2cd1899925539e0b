package storetest

import (
	"testing"

	"github.com/ssooidc/ssooidc/internal/store"
)

// keysTests are the conformance tests of store.SigningKeys.
var keysTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{}
