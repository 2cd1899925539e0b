package main

import (
	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/internal/server"
)

func newMigrateCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the storage schema migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			st, err := server.OpenStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			printf(cmd, "schema of %s is up to date\n", cfg.Redacted().DB)
			return st.Close()
		},
	}
}
