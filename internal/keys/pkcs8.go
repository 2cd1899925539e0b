package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// marshalPrivate encodes a private key as PKCS #8 DER, the form that is
// sealed into the store.
func marshalPrivate(priv crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: encode private key: %w", err)
	}
	return der, nil
}

// parsePrivate decodes PKCS #8 DER and checks that the key suits alg: RSA
// of at least 2048 bits for RS256, ECDSA P-256 for ES256.
func parsePrivate(alg string, der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("decode private key: %w", err)
	}
	switch alg {
	case RS256:
		if rk, ok := k.(*rsa.PrivateKey); ok && rk.N.BitLen() >= rsaBits {
			return rk, nil
		}
	case ES256:
		if ek, ok := k.(*ecdsa.PrivateKey); ok && ek.Curve == elliptic.P256() {
			return ek, nil
		}
	default:
		return nil, fmt.Errorf("unknown algorithm %q", alg)
	}
	return nil, fmt.Errorf("a %T is not a %s key", k, alg)
}
