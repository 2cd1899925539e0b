package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/oauth"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

func newClientCommand(g *globalFlags) *cobra.Command {
	client := &cobra.Command{Use: "client", Short: "Manage OAuth clients"}

	var redirectURIs, grantTypes, scopes []string
	add := &cobra.Command{
		Use:   "add NAME --redirect-uri URI",
		Short: "Add a confidential client; its secret is printed once",
		Long: `Add a confidential OAuth client (a web app, a resource server) that
authenticates with a client secret. The server generates the secret and
prints it once; only a keyed hash is stored. The client never expires.

Grant types default to authorization_code and refresh_token, which need a
redirect URI; device_code is accepted as a short name for
urn:ietf:params:oauth:grant-type:device_code. Without --scope the client may
request any scope.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInstance(cmd, g, func(ctx context.Context, cfg config.Config, st store.Store, secrets *secret.Keys) error {
				engine := oauth.New(st, secrets, oauth.Config{Issuer: cfg.Issuer}, time.Now, nil)
				c, err := engine.AddConfidentialClient(ctx, oauth.ConfidentialClientRequest{
					Name:         args[0],
					RedirectURIs: redirectURIs,
					GrantTypes:   grantTypeNames(grantTypes),
					Scopes:       scopes,
				})
				if oe, ok := errors.AsType[*oauth.Error](err); ok && oe.Kind != oauth.Internal {
					return errors.New(oe.Description)
				}
				if err != nil {
					return err
				}
				printf(cmd, "added client %s\nclient_id:     %s\nclient_secret: %s\n(the secret is shown only now: store it safely)\n",
					args[0], c.ClientID, c.ClientSecret)
				return nil
			})
		},
	}
	add.Flags().StringArrayVar(&redirectURIs, "redirect-uri", nil, "redirect URI (repeatable): https, or http on a loopback address")
	add.Flags().StringArrayVar(&grantTypes, "grant-type", nil, "grant type (repeatable): authorization_code, refresh_token, device_code")
	add.Flags().StringArrayVar(&scopes, "scope", nil, "scope the client may request (repeatable; default any)")
	client.AddCommand(add)
	return client
}

// grantTypeNames expands the short name of the device code grant.
func grantTypeNames(in []string) []string {
	out := make([]string, len(in))
	for i, g := range in {
		switch g {
		case "device_code", "device-code":
			g = oauth.GrantDeviceCode
		}
		out[i] = g
	}
	return out
}
