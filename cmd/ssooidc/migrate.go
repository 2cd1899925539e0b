package main

import (
	"github.com/spf13/cobra"
)

func newMigrateCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the storage schema migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, err := g.openStore(cmd)
			if err != nil {
				return err
			}
			printf(cmd, "schema of %s is up to date\n", cfg.Redacted().DB)
			return st.Close()
		},
	}
}
