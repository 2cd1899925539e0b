package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/directory"
	"github.com/ssooidc/ssooidc/internal/store"
)

// userSecurityCommands are the user subcommands of issue 7: lifting a
// lock-out, ending a user's sessions and tokens, second factors, and the
// state of all three.
func userSecurityCommands(g *globalFlags) []*cobra.Command {
	simple := func(use, short, done string, fn func(*directory.Directory, context.Context, string) error) *cobra.Command {
		return &cobra.Command{
			Use:   use + " NAME",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withDirectory(cmd, g, func(ctx context.Context, d *directory.Directory) error {
					if err := fn(d, ctx, args[0]); err != nil {
						return err
					}
					printf(cmd, done+"\n", args[0])
					return nil
				})
			},
		}
	}
	unlock := simple("unlock", "Lift a user's lock-out after repeated failed sign-ins", "user %s unlocked",
		(*directory.Directory).Unlock)
	revoke := simple("revoke", "End all of a user's browser sessions and revoke every token issued to it", "sessions of %s ended and tokens revoked",
		(*directory.Directory).Revoke)

	mfa := &cobra.Command{Use: "mfa", Short: "Manage a user's second factor (TOTP)"}
	reset := simple("reset", "Remove a user's second factor and recovery codes (a lost phone)", "second factor of %s removed",
		(*directory.Directory).ResetMFA)
	var off bool
	require := &cobra.Command{
		Use:   "require NAME [--off]",
		Short: "Make a user sign in with a second factor (set it up at the next sign-in)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDirectory(cmd, g, func(ctx context.Context, d *directory.Directory) error {
				if err := d.SetMFARequired(ctx, args[0], !off); err != nil {
					return err
				}
				state := "required"
				if off {
					state = "no longer required (unless mfa_required is set)"
				}
				printf(cmd, "second factor %s for %s\n", state, args[0])
				return nil
			})
		},
	}
	require.Flags().BoolVar(&off, "off", false, "no longer require it")
	mfa.AddCommand(reset, require)

	status := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a user's lock-out and second-factor state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDirectory(cmd, g, func(ctx context.Context, d *directory.Directory) error {
				st, err := d.UserSecurity(ctx, args[0])
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				locked := "no"
				if !st.LockedAt.IsZero() {
					locked = "since " + st.LockedAt.Format(time.RFC3339) + " (ssooidc user unlock " + args[0] + ")"
				}
				fmt.Fprintf(tw, "locked\t%s\n", locked)
				fmt.Fprintf(tw, "failed sign-ins\t%d\n", st.Failures)
				fmt.Fprintf(tw, "second factor\t%s\n", yesNo(st.MFA.Enrolled, "totp", "none"))
				fmt.Fprintf(tw, "second factor required\t%s\n", yesNo(st.MFA.Required, "yes", "no"))
				if st.MFA.Enrolled {
					fmt.Fprintf(tw, "recovery codes left\t%d\n", st.MFA.RecoveryCodesLeft)
				}
				return tw.Flush()
			})
		},
	}
	return []*cobra.Command{unlock, revoke, mfa, status}
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// storeRecorder writes an administration command's audit events straight
// to the store (a command is short-lived: no background writer).
type storeRecorder struct {
	st  store.AuditEvents
	cmd *cobra.Command
}

func (r storeRecorder) Record(ctx context.Context, e audit.Event) {
	ev := store.AuditEvent{Time: e.Time, Type: string(e.Type), UserID: e.UserID, ClientID: e.ClientID, Detail: e.Detail, ClientIP: "cli"}
	if err := r.st.AppendAuditEvents(context.WithoutCancel(ctx), []store.AuditEvent{ev}); err != nil {
		fmt.Fprintf(r.cmd.ErrOrStderr(), "warning: audit event not recorded: %v\n", err)
	}
}

func newAuditCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read the audit trail of security events"}
	var user, since string
	var limit int
	list := &cobra.Command{
		Use:   "list [--user NAME] [--since TIME] [--limit N]",
		Short: "List security events, oldest first",
		Long: `List security events, oldest first: sign-ins and their failures, lock-outs,
second factors, approvals and denials (with client and user code), tokens
issued, refreshed and revoked, reuse detected, rate limits exceeded and
administration. --since takes an RFC 3339 time (2026-01-02T15:04:05Z), a
date (2026-01-02) or a duration back from now (24h, 30m).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := parseSince(since, time.Now())
			if err != nil {
				return usageError{err}
			}
			_, st, err := g.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			names := map[string]string{}
			if users, err := st.ListUsers(ctx); err == nil {
				for _, u := range users {
					names[u.ID] = u.Name
				}
			}
			q := store.AuditQuery{Since: from, Limit: limit}
			if user != "" {
				q.UserID = user // a deleted user's id still selects its events
				for id, name := range names {
					if name == user {
						q.UserID = id
					}
				}
			}
			events, err := st.ListAuditEvents(ctx, q)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tEVENT\tUSER\tCLIENT\tIP\tDETAIL")
			for _, e := range events {
				who := e.UserID
				if n, ok := names[who]; ok {
					who = n
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Type, dash(who), dash(e.ClientID), dash(e.ClientIP), oneLine(e.Detail))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&user, "user", "", "only this user's events (a user name, or the id of a deleted user)")
	list.Flags().StringVar(&since, "since", "", "only events at or after this time (RFC 3339, a date, or a duration back from now)")
	list.Flags().IntVar(&limit, "limit", 1000, "at most this many of the most recent events (0: all)")
	cmd.AddCommand(list)
	return cmd
}

// parseSince reads --since.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("--since: want an RFC 3339 time, a date (2006-01-02) or a duration (24h)")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a detail on its row of the table.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
