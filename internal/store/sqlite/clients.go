package sqlite

import (
	"context"

	"github.com/ssooidc/ssooidc/internal/store"
)

const clientCols = `id, secret_hash, name, type, scopes, grant_types, redirect_uris, issuer_url, created_at, expires_at`

func scanClient(r scanner) (store.Client, error) {
	var c store.Client
	err := r.Scan(&c.ID, &c.SecretHash, &c.Name, &c.Type, listCol{&c.Scopes}, listCol{&c.GrantTypes},
		listCol{&c.RedirectURIs}, &c.IssuerURL, timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt})
	return c, err
}

// CreateClient stores c; store.ErrAlreadyExists if its id is taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO clients (`+clientCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.SecretHash, c.Name, c.Type, list(c.Scopes), list(c.GrantTypes),
		list(c.RedirectURIs), c.IssuerURL, micros(c.CreatedAt), micros(c.ExpiresAt))
	return wrap("create client", err)
}

// GetClient returns the client with that id, expired or not.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(s.getClient.QueryRowContext(ctx, id))
	if err != nil {
		return store.Client{}, wrap("get client", err)
	}
	return c, nil
}
