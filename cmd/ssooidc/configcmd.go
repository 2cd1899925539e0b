package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func newConfigCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check or show the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Report every problem in a configuration file (with SSOOIDC_* applied) at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g.configFile = args[0]
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			var problems []error
			if err := cfg.Validate(); err != nil {
				problems = append(problems, err)
			}
			if _, _, _, err := cfg.LoadSecretKey(); err != nil && !cfg.Dev {
				problems = append(problems, err)
			}
			if len(problems) > 0 {
				return fmt.Errorf("%s has problems:\n%w", args[0], errors.Join(problems...))
			}
			printf(cmd, "%s is valid\n", args[0])
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration (file, environment, flags) with secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			out, err := yaml.Marshal(cfg.Redacted())
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	})
	return cmd
}
