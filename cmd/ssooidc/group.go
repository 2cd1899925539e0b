package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/internal/accounts"
)

func newGroupCommand(g *globalFlags) *cobra.Command {
	group := &cobra.Command{Use: "group", Short: "Manage groups of users (roles assigned to a group reach its members)"}

	// run is a group command that prints one line when done.
	run := func(use, short string, nargs int, do func(context.Context, *accounts.Service, []string) (string, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(nargs),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withAccounts(cmd, g, false, func(ctx context.Context, s *accounts.Service) error {
					done, err := do(ctx, s, args)
					if err != nil {
						return err
					}
					printf(cmd, "%s\n", done)
					return nil
				})
			},
		}
	}
	add := run("add NAME", "Add a group", 1, func(ctx context.Context, s *accounts.Service, args []string) (string, error) {
		gr, err := s.AddGroup(ctx, args[0])
		return fmt.Sprintf("added group %s (id %s)", gr.Name, gr.ID), err
	})
	remove := run("remove NAME", "Remove a group with its memberships and assignments", 1, func(ctx context.Context, s *accounts.Service, args []string) (string, error) {
		return "group " + args[0] + " removed", s.RemoveGroup(ctx, args[0])
	})
	addMember := run("add-member GROUP USER", "Add a user to a group", 2, func(ctx context.Context, s *accounts.Service, args []string) (string, error) {
		return "added " + args[1] + " to " + args[0], s.AddMember(ctx, args[0], args[1])
	})
	removeMember := run("remove-member GROUP USER", "Remove a user from a group", 2, func(ctx context.Context, s *accounts.Service, args []string) (string, error) {
		return "removed " + args[1] + " from " + args[0], s.RemoveMember(ctx, args[0], args[1])
	})

	list := &cobra.Command{
		Use:   "list",
		Short: "List groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAccounts(cmd, g, false, func(ctx context.Context, s *accounts.Service) error {
				gs, err := s.Groups(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tID\tCREATED")
				for _, gr := range gs {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", gr.Name, gr.ID, gr.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	members := &cobra.Command{
		Use:   "members GROUP",
		Short: "List a group's members",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAccounts(cmd, g, false, func(ctx context.Context, s *accounts.Service) error {
				ms, err := s.Members(ctx, args[0])
				if err != nil {
					return err
				}
				for _, m := range ms {
					printf(cmd, "%s\n", userText(m.Name, m.UserID))
				}
				return nil
			})
		},
	}
	group.AddCommand(add, list, remove, addMember, removeMember, members)
	return group
}

// userText names a user, or says that it was deleted.
func userText(name, id string) string {
	if name == "" {
		return "(deleted user " + id + ")"
	}
	return name
}
