package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateSigning(t *testing.T) {
	for _, tc := range []struct {
		alg      string
		rotation time.Duration
		want     string // a substring of the error; empty: valid
	}{
		{"RS256", 30 * 24 * time.Hour, ""},
		{"ES256", 0, ""},
		{"ES256", time.Hour, ""},
		{"HS256", time.Hour, "signing_algorithm:"},
		{"", time.Hour, "signing_algorithm:"},
		{"RS256", 30 * time.Minute, "signing_key_rotation:"},
		{"RS256", -time.Hour, "signing_key_rotation:"},
	} {
		c := Default()
		c.SigningAlgorithm, c.SigningKeyRotation = tc.alg, Duration(tc.rotation)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s, %v: Validate = %v, want nil", tc.alg, tc.rotation, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s, %v: Validate = %v, want an error about %s", tc.alg, tc.rotation, err, tc.want)
		}
	}
}
