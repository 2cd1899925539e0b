package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/internal/accounts"
	"github.com/ssooidc/ssooidc/internal/store"
)

// principalFlags are --user and --group: exactly one names whom a role is
// assigned to.
type principalFlags struct{ user, group string }

func (p *principalFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.user, "user", "", "the user")
	cmd.Flags().StringVar(&p.group, "group", "", "the group")
}

// principal returns the principal named; optional allows neither.
func (p *principalFlags) principal(optional bool) (*accounts.Principal, error) {
	switch {
	case p.user != "" && p.group != "":
		return nil, usageError{errors.New("give --user or --group, not both")}
	case p.user != "":
		return &accounts.Principal{Type: store.PrincipalUser, Name: p.user}, nil
	case p.group != "":
		return &accounts.Principal{Type: store.PrincipalGroup, Name: p.group}, nil
	case optional:
		return nil, nil
	}
	return nil, usageError{errors.New("name whom the role is for: --user USER or --group GROUP")}
}

func needTarget(account, role string) error {
	if account == "" || role == "" {
		return usageError{errors.New("--account ID and --role ROLE are required")}
	}
	return nil
}

func newAssignCommand(g *globalFlags) *cobra.Command {
	var who principalFlags
	var account, role string
	var duration time.Duration
	assign := &cobra.Command{
		Use:   "assign (--user USER | --group GROUP) --account ID --role ROLE [--duration 1h]",
		Short: "Give a user or a group a role in an AWS account",
		Long: `Give a user or a group a role in an AWS account: the portal then lists the
account and role to them and issues credentials for it. --duration is how long
those credentials last: 15m to 12h, what STS AssumeRole allows (a role's own
MaxSessionDuration may allow less; ssooidc then issues one hour and logs it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := who.principal(false)
			if err != nil {
				return err
			}
			if err := needTarget(account, role); err != nil {
				return err
			}
			return withAccounts(cmd, g, false, func(ctx context.Context, s *accounts.Service) error {
				a, err := s.Assign(ctx, *p, account, role, duration)
				if err != nil {
					return err
				}
				if a.Duration != duration {
					printf(cmd, "note: the duration %s is outside what STS allows (15m to 12h); using %s\n", duration, a.Duration)
				}
				printf(cmd, "assigned role %s in account %s to %s for %s\n", role, account, p, a.Duration)
				return nil
			})
		},
	}
	who.add(assign)
	assign.Flags().StringVar(&account, "account", "", "the AWS account id (required)")
	assign.Flags().StringVar(&role, "role", "", "the IAM role name (required)")
	assign.Flags().DurationVar(&duration, "duration", time.Hour, "how long the credentials last (15m to 12h)")

	var rmWho principalFlags
	var rmAccount, rmRole string
	remove := &cobra.Command{
		Use:   "remove (--user USER | --group GROUP) --account ID --role ROLE",
		Short: "Take a role in an account away from a user or a group",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := rmWho.principal(false)
			if err != nil {
				return err
			}
			if err := needTarget(rmAccount, rmRole); err != nil {
				return err
			}
			return withAccounts(cmd, g, false, func(ctx context.Context, s *accounts.Service) error {
				if err := s.Unassign(ctx, *p, rmAccount, rmRole); err != nil {
					return err
				}
				printf(cmd, "removed role %s in account %s from %s\n", rmRole, rmAccount, p)
				return nil
			})
		},
	}
	rmWho.add(remove)
	remove.Flags().StringVar(&rmAccount, "account", "", "the AWS account id (required)")
	remove.Flags().StringVar(&rmRole, "role", "", "the IAM role name (required)")

	var lsWho principalFlags
	var lsAccount string
	list := &cobra.Command{
		Use:   "list [--account ID] [--user USER | --group GROUP]",
		Short: "List assignments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := lsWho.principal(true)
			if err != nil {
				return err
			}
			return withAccounts(cmd, g, false, func(ctx context.Context, s *accounts.Service) error {
				as, err := s.Assignments(ctx, lsAccount, p)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ACCOUNT\tROLE\tPRINCIPAL\tDURATION")
				for _, a := range as {
					name := a.PrincipalName
					switch {
					case a.PrincipalType == store.PrincipalUser:
						name = "user " + userText(name, a.PrincipalID)
					case name == "":
						name = "(deleted group " + a.PrincipalID + ")"
					default:
						name = "group " + name
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.AccountID, a.RoleName, name, a.Duration)
				}
				return tw.Flush()
			})
		},
	}
	lsWho.add(list)
	list.Flags().StringVar(&lsAccount, "account", "", "only this account")

	assign.AddCommand(list, remove)
	return assign
}
