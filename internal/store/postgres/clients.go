package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/ssooidc/ssooidc/internal/store"
)

const clientCols = `id, secret_hash, name, type, scopes, grant_types, redirect_uris, issuer_url, created_at, expires_at`

func scanClient(r pgx.Row) (store.Client, error) {
	var c store.Client
	err := r.Scan(&c.ID, &c.SecretHash, &c.Name, &c.Type, listCol{&c.Scopes}, listCol{&c.GrantTypes},
		listCol{&c.RedirectURIs}, &c.IssuerURL, timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt})
	return c, err
}

// CreateClient stores c; store.ErrAlreadyExists if its id is taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	err := s.run(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO clients (`+clientCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			c.ID, c.SecretHash, c.Name, c.Type, list(c.Scopes), list(c.GrantTypes),
			list(c.RedirectURIs), c.IssuerURL, micros(c.CreatedAt), micros(c.ExpiresAt))
		return err
	})
	return wrap("create client", err)
}

// GetClient returns the client with that id, expired or not.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	var c store.Client
	err := s.run(ctx, func(ctx context.Context) (err error) {
		c, err = scanClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return store.Client{}, wrap("get client", err)
	}
	return c, nil
}
