package config

import (
	"errors"
	"fmt"
	"time"
)

// validateSigning checks the OpenID Connect signing key settings.
func (c *Config) validateSigning() []error {
	var errs []error
	switch c.SigningAlgorithm {
	case "RS256", "ES256":
	default:
		errs = append(errs, fmt.Errorf("signing_algorithm: %q is not RS256 or ES256", c.SigningAlgorithm))
	}
	if r := time.Duration(c.SigningKeyRotation); r != 0 && r < time.Hour {
		errs = append(errs, errors.New("signing_key_rotation: must be 0 (manual only) or at least 1h"))
	}
	return errs
}
