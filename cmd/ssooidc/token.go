package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/client"
)

func newTokenCommand() *cobra.Command {
	var f sessionFlags
	var minValidity time.Duration
	cmd := &cobra.Command{
		Use:   "token [--session NAME] [--min-validity 15m]",
		Short: "Print a valid access token, refreshing the cached one when near expiry",
		Long: `Print the cached access token of a session on standard output, for scripts:

    curl -H "Authorization: Bearer $(ssooidc token)" https://…

A token that expires within --min-validity is refreshed first with its refresh
token, and the cache is rewritten for the AWS CLI and SDKs too. When there is
no token, or it expired and cannot be refreshed, it exits with 4: run
ssooidc login.
` + sessionHelp + "\n" + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := newStatus(cmd.ErrOrStderr())
			s, c, err := f.resolve(out)
			if err != nil {
				return err
			}
			tok, err := c.Token(cmd.Context(), s, minValidity)
			if err != nil {
				return explain(err, s, c)
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.AccessToken)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&minValidity, "min-validity", client.DefaultMinValidity, "refresh a token that expires sooner than this")
	return cmd
}
