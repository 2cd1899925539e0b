package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/keys"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/server"
	"github.com/ssooidc/ssooidc/internal/store"
)

// newKeysRotateCommand is `ssooidc keys rotate`: a new ID token signing key,
// on the database a running server uses.
func newKeysRotateCommand(g *globalFlags) *cobra.Command {
	var algorithm string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Create a new ID token signing key (published at once, signing 10 minutes later)",
		Long: `Create a new ID token signing key in the database. Running servers publish it
at /oauth2/jwks within a minute and sign with it ` + keys.ActivationDelay.String() + ` after its creation;
the keys it replaces stay published until every token they signed has
expired. Works on the same database as a running server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withInstance(cmd, g, func(ctx context.Context, cfg config.Config, st store.Store, secrets *secret.Keys) error {
				if cmd.Flags().Changed("algorithm") {
					cfg.SigningAlgorithm = algorithm
				}
				m, err := cliKeyManager(cfg, st, secrets)
				if err != nil {
					return err
				}
				k, err := m.Rotate(ctx)
				if err != nil {
					return err
				}
				printf(cmd, "created signing key %s (%s); it signs from %s\n", k.ID, k.Algorithm, k.SignsFrom.UTC().Format(time.RFC3339))
				list, err := m.List(ctx)
				if err != nil {
					return err
				}
				return printKeys(cmd.OutOrStdout(), list)
			})
		},
	}
	cmd.Flags().StringVar(&algorithm, "algorithm", "", "RS256 or ES256 (default: config key signing_algorithm)")
	return cmd
}

// newKeysListCommand is `ssooidc keys list`: the published signing keys.
func newKeysListCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the published ID token signing keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withInstance(cmd, g, func(ctx context.Context, cfg config.Config, st store.Store, secrets *secret.Keys) error {
				m, err := cliKeyManager(cfg, st, secrets)
				if err != nil {
					return err
				}
				list, err := m.List(ctx)
				if err != nil {
					return err
				}
				return printKeys(cmd.OutOrStdout(), list)
			})
		},
	}
}

// cliKeyManager is a key manager for a command: it never rotates by
// itself (that is the servers' schedule).
func cliKeyManager(cfg config.Config, st store.Store, secrets *secret.Keys) (*keys.Manager, error) {
	return keys.New(st, secrets, keys.Config{
		Algorithm:     cfg.SigningAlgorithm,
		TokenLifetime: time.Duration(cfg.AccessTokenLifetime),
	})
}

func printKeys(out io.Writer, list []keys.Info) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tSIGNS FROM\tPUBLISHED UNTIL\tSTATUS")
	now := time.Now()
	for _, k := range list {
		until, status := "-", "published"
		switch {
		case k.Signing:
			status = "signing"
		case now.Before(k.SignsFrom):
			status = "next"
		}
		if !k.ExpiresAt.IsZero() {
			until = k.ExpiresAt.UTC().Format(time.RFC3339)
			if !k.Signing {
				status = "retired"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.CreatedAt.UTC().Format(time.RFC3339),
			k.SignsFrom.UTC().Format(time.RFC3339), until, status)
	}
	return tw.Flush()
}

// withInstance opens the configured store with the instance's secret key,
// checked against the database, for commands that write what the server
// reads back (sealed signing keys, hashed client secrets).
func withInstance(cmd *cobra.Command, g *globalFlags, fn func(context.Context, config.Config, store.Store, *secret.Keys) error) error {
	cfg, err := g.load(cmd)
	if err != nil {
		return err
	}
	master, _, _, err := cfg.LoadSecretKey()
	if err != nil {
		return err
	}
	secrets, err := secret.New(master)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := server.CheckKey(ctx, st, secrets); err != nil {
		return err
	}
	return fn(ctx, cfg, st, secrets)
}
