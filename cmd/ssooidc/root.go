package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/server"
	"github.com/ssooidc/ssooidc/internal/store"
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

// openStore loads the configuration and opens its store, for a command that
// works on the database (beside a running server, too). The caller closes
// the store.
func (g *globalFlags) openStore(cmd *cobra.Command) (config.Config, store.Store, error) {
	cfg, err := g.load(cmd)
	if err != nil {
		return cfg, nil, err
	}
	st, err := server.OpenStore(cmd.Context(), cfg)
	return cfg, st, err
}

func printf(cmd *cobra.Command, format string, args ...any) {
	fmt.Fprintf(cmd.OutOrStdout(), format, args...)
}
