package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/client"
)

func newLogoutCommand() *cobra.Command {
	var f sessionFlags
	cmd := &cobra.Command{
		Use:   "logout [--session NAME]",
		Short: "Revoke the cached token at the server and remove it",
		Long: `Sign out: ask the server to revoke the session's token (the SSO portal's
POST /logout, else RFC 7009 /oauth2/revoke), then remove the token from
~/.aws/sso/cache. Revocation is best effort: when the server cannot do it, the
token is removed locally all the same and the command says so.
` + sessionHelp + "\n" + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := newStatus(cmd.ErrOrStderr())
			s, c, err := f.resolve(out)
			if err != nil {
				return err
			}
			var expires time.Time
			if t, err := c.Cache().ReadToken(s); err == nil {
				expires = t.ExpiresAt
			}
			res, err := c.Logout(cmd.Context(), s)
			if err != nil {
				return err
			}
			switch {
			case !res.Removed:
				out.printf("Not signed in: no cached token for %s.\n", s)
			case res.Revoked:
				out.printf("Signed out: the server revoked the token and %s was removed.\n", res.Path)
			case errors.Is(res.RevokeErr, client.ErrRevocationUnsupported):
				out.printf("Removed the cached token %s.\nThe server does not support revocation, so the token stays valid there until %s.\n",
					res.Path, expires.Local().Format("2006-01-02 15:04 MST"))
			default:
				out.printf("Removed the cached token %s, but the server did not revoke it: %v\n", res.Path, res.RevokeErr)
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
