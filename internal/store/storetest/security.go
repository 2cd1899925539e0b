package storetest

import (
	"testing"

	"github.com/ssooidc/ssooidc/internal/store"
)

// securityTests are the conformance tests of store.Security.
var securityTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{}
