package main

import (
	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/internal/secret"
)

func newKeysCommand(g *globalFlags) *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Manage the instance's keys"}
	keys.AddCommand(newKeysRotateCommand(g), newKeysListCommand(g)) // keysrotate.go
	keys.AddCommand(&cobra.Command{
		Use:   "generate",
		Short: "Print a new random master key (for secret_key_file or SSOOIDC_SECRET_KEY)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			printf(cmd, "%s\n", secret.GenerateKey())
			return nil
		},
	})
	return keys
}
