package store

// SigningKeys stores the OIDC signing keys (see keys.go).
type SigningKeys interface{}
