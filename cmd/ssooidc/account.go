package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/internal/accounts"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/server"
)

func newAccountCommand(g *globalFlags) *cobra.Command {
	account := &cobra.Command{Use: "account", Short: "Manage the AWS accounts of the SSO portal"}

	var name, email string
	add := &cobra.Command{
		Use:   "add ID --name NAME [--email EMAIL]",
		Short: "Add an AWS account (12 digits) that roles can be assigned in",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return usageError{errors.New("--name is required")}
			}
			return withAccounts(cmd, g, false, func(ctx context.Context, s *accounts.Service) error {
				a, err := s.AddAccount(ctx, args[0], name, email)
				if err != nil {
					return err
				}
				printf(cmd, "added account %s (%s)\n", a.ID, a.Name)
				return nil
			})
		},
	}
	add.Flags().StringVar(&name, "name", "", "account name shown by the portal (required)")
	add.Flags().StringVar(&email, "email", "", "account e-mail address shown by the portal")

	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAccounts(cmd, g, false, func(ctx context.Context, s *accounts.Service) error {
				as, err := s.Accounts(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tEMAIL\tCREATED")
				for _, a := range as {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.ID, a.Name, a.Email, a.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}

	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove an account with its assignments and stored credentials",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAccounts(cmd, g, false, func(ctx context.Context, s *accounts.Service) error {
				if err := s.RemoveAccount(ctx, args[0]); err != nil {
					return err
				}
				printf(cmd, "account %s removed\n", args[0])
				return nil
			})
		},
	}

	var role, keyID string
	var secretStdin bool
	setCreds := &cobra.Command{
		Use:   "set-credentials ID [--role ROLE] --access-key-id KEY --secret-stdin",
		Short: "Store fixed credentials for the static source (emulators and tests only)",
		Long: `Store fixed AWS credentials that the static credential source hands out for a
role of the account (--role), or for every role of it. Standard input holds the
secret access key on its first line and, optionally, a session token on the
second. They are stored encrypted under the master key.

The static source is for local emulators (LocalStack, moto) and tests: NOT FOR
PRODUCTION. It serves only the accounts listed in portal_static_accounts.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyID == "" {
				return usageError{errors.New("--access-key-id is required")}
			}
			if !secretStdin {
				return usageError{errors.New("the secret access key is read from standard input: pass --secret-stdin")}
			}
			secretKey, token, err := readSecretLines(cmd.InOrStdin())
			if err != nil {
				return err
			}
			return withAccounts(cmd, g, true, func(ctx context.Context, s *accounts.Service) error {
				if err := s.SetStaticCredentials(ctx, args[0], role, keyID, secretKey, token); err != nil {
					return err
				}
				printf(cmd, "stored credentials %s for account %s, %s (static source: emulators and tests only, not for production)\n",
					keyID, args[0], roleText(role))
				return nil
			})
		},
	}
	setCreds.Flags().StringVar(&role, "role", "", "the role they are for (default: every role of the account)")
	setCreds.Flags().StringVar(&keyID, "access-key-id", "", "access key id (required)")
	setCreds.Flags().BoolVar(&secretStdin, "secret-stdin", false, "read the secret access key (and a session token on a second line) from standard input (required)")

	var clearRole string
	clearCreds := &cobra.Command{
		Use:   "clear-credentials ID [--role ROLE]",
		Short: "Remove stored static credentials",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAccounts(cmd, g, false, func(ctx context.Context, s *accounts.Service) error {
				if err := s.ClearStaticCredentials(ctx, args[0], clearRole); err != nil {
					return err
				}
				printf(cmd, "removed the stored credentials of account %s, %s\n", args[0], roleText(clearRole))
				return nil
			})
		},
	}
	clearCreds.Flags().StringVar(&clearRole, "role", "", "the role they are for (default: the account-wide ones)")

	account.AddCommand(add, list, remove, setCreds, clearCreds)
	return account
}

func roleText(role string) string {
	if role == "" {
		return "every role"
	}
	return "role " + role
}

// readSecretLines reads a secret access key and an optional session token,
// one a line; secrets never come from flags.
func readSecretLines(r io.Reader) (secretKey, token string, err error) {
	sc := bufio.NewScanner(io.LimitReader(r, 16<<10))
	sc.Buffer(make([]byte, 0, 4096), 16<<10)
	var lines []string
	for sc.Scan() && len(lines) < 2 {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("reading the secret: %w", err)
	}
	if len(lines) == 0 || lines[0] == "" {
		return "", "", errors.New("no secret access key on standard input")
	}
	if len(lines) == 2 {
		token = lines[1]
	}
	return lines[0], token, nil
}

// withAccounts opens the configured store for an admin command of the
// portal. Only storing credentials needs the master key (they are sealed
// with it): then it must be the one the database was written with.
func withAccounts(cmd *cobra.Command, g *globalFlags, needKey bool, fn func(context.Context, *accounts.Service) error) error {
	cfg, err := g.load(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	master, _, _, err := cfg.LoadSecretKey()
	switch {
	case err != nil && needKey:
		return err
	case err != nil:
		master = []byte(secret.GenerateKey())
	}
	keys, err := secret.New(master)
	if err != nil {
		return err
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if needKey {
		if err := server.CheckKey(ctx, st, keys); err != nil {
			return err
		}
	}
	return fn(ctx, accounts.New(st, keys, accounts.Config{}, time.Now, nil))
}
