package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/internal/config"
)

// globalFlags are shared by every command that reads the configuration.
type globalFlags struct {
	configFile string
	db         string
}

func newRootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "ssooidc",
		Short:         "A self-hosted, wire-compatible AWS SSO OIDC service",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "YAML configuration file")
	root.PersistentFlags().StringVar(&g.db, "db", "", "SQLite file path or postgres:// URL (config key db)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCommand(g), newUserCommand(g), newKeysCommand(g), newClientCommand(g), newMigrateCommand(g), newBackupCommand(g), newConfigCommand(g), newVersionCommand(), newLoginCommand(), newTokenCommand(), newLogoutCommand())
	root.AddCommand(newAccountCommand(g), newGroupCommand(g), newAssignCommand(g))
	root.AddCommand(newAuditCommand(g)) // user_security.go
	return root
}

// load builds the configuration: defaults, then the file, then SSOOIDC_*
// variables, then flags.
func (g *globalFlags) load(cmd *cobra.Command) (config.Config, error) {
	cfg := config.Default()
	if g.configFile != "" {
		if err := cfg.LoadFile(g.configFile); err != nil {
			return cfg, err
		}
	}
	if err := cfg.LoadEnv(os.LookupEnv); err != nil {
		return cfg, err
	}
	if cmd.Flags().Changed("db") {
		cfg.DB = g.db
	}
	return cfg, nil
}

func printf(cmd *cobra.Command, format string, args ...any) {
	fmt.Fprintf(cmd.OutOrStdout(), format, args...)
}
