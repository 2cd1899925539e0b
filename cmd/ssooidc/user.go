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

	"github.com/ssooidc/ssooidc/internal/directory"
	"github.com/ssooidc/ssooidc/internal/ratelimit"
	"github.com/ssooidc/ssooidc/internal/secret"
)

func newUserCommand(g *globalFlags) *cobra.Command {
	user := &cobra.Command{Use: "user", Short: "Manage the people who can sign in"}

	var email, displayName string
	var passwordStdin bool
	add := &cobra.Command{
		Use:   "add NAME --password-stdin",
		Short: "Add a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			password, err := readPassword(cmd, passwordStdin)
			if err != nil {
				return err
			}
			return withDirectory(cmd, g, func(ctx context.Context, d *directory.Directory) error {
				u, err := d.AddUser(ctx, args[0], email, displayName, password)
				if err != nil {
					return err
				}
				printf(cmd, "added user %s (id %s)\n", u.Name, u.ID)
				return nil
			})
		},
	}
	add.Flags().StringVar(&email, "email", "", "e-mail address")
	add.Flags().StringVar(&displayName, "display-name", "", "name shown on pages")
	add.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input (required)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDirectory(cmd, g, func(ctx context.Context, d *directory.Directory) error {
				users, err := d.ListUsers(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tEMAIL\tDISPLAY NAME\tSTATUS\tCREATED")
				for _, u := range users {
					status := "enabled"
					if u.Disabled {
						status = "disabled"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Email, u.DisplayName, status, u.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}

	var passwdStdin bool
	passwd := &cobra.Command{
		Use:   "passwd NAME --password-stdin",
		Short: "Set a user's password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			password, err := readPassword(cmd, passwdStdin)
			if err != nil {
				return err
			}
			return withDirectory(cmd, g, func(ctx context.Context, d *directory.Directory) error {
				if err := d.SetPassword(ctx, args[0], password); err != nil {
					return err
				}
				printf(cmd, "password of %s changed\n", args[0])
				return nil
			})
		},
	}
	passwd.Flags().BoolVar(&passwdStdin, "password-stdin", false, "read the password from standard input (required)")

	setDisabled := func(use, short string, disabled bool, done string) *cobra.Command {
		return &cobra.Command{
			Use:   use + " NAME",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withDirectory(cmd, g, func(ctx context.Context, d *directory.Directory) error {
					if err := d.SetDisabled(ctx, args[0], disabled); err != nil {
						return err
					}
					printf(cmd, "user %s %s\n", args[0], done)
					return nil
				})
			},
		}
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user, ending its sessions and revoking its tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDirectory(cmd, g, func(ctx context.Context, d *directory.Directory) error {
				if err := d.DeleteUser(ctx, args[0]); err != nil {
					return err
				}
				printf(cmd, "user %s deleted\n", args[0])
				return nil
			})
		},
	}
	user.AddCommand(add, list, passwd,
		setDisabled("disable", "Disable a user, ending its sessions and revoking its tokens", true, "disabled"),
		setDisabled("enable", "Enable a user", false, "enabled"),
		del)
	user.AddCommand(userSecurityCommands(g)...) // user_security.go
	return user
}

// readPassword reads one line from standard input; passwords never come
// from flags (they would show in the process list and shell history).
func readPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	if !fromStdin {
		return "", usageError{errors.New("the password is read from standard input: pass --password-stdin")}
	}
	line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", errors.New("no password on standard input")
	}
	return password, nil
}

// withDirectory opens the configured store for an admin command. The
// commands work on the same database as a running server.
func withDirectory(cmd *cobra.Command, g *globalFlags, fn func(context.Context, *directory.Directory) error) error {
	cfg, st, err := g.openStore(cmd)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := cmd.Context()
	// User administration hashes passwords with argon2id and needs no
	// keyed hash; a key is used when configured, else a throwaway one.
	master, _, _, err := cfg.LoadSecretKey()
	if err != nil {
		master = []byte(secret.GenerateKey())
	}
	keys, err := secret.New(master)
	if err != nil {
		return err
	}
	// Administration is audited in the store, as the server's events are;
	// the limiter lets unlock forget an account's sign-in counter.
	return fn(ctx, directory.New(st, keys, directory.Config{
		Audit:   storeRecorder{st: st, cmd: cmd},
		Limiter: ratelimit.New(st, keys, time.Now),
	}, time.Now, nil))
}
