package server

import (
	"context"
	"fmt"
	"time"

	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/postgres"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

// OpenStore opens the backend the db setting names: a postgres:// URL is
// PostgreSQL, anything else a SQLite file path. Migrations run on open.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.IsPostgres() {
		st, err := postgres.Open(ctx, cfg.DB, postgres.Options{
			MaxConns:         int32(cfg.DBMaxConns),
			StatementTimeout: statementTimeout(cfg.DBStatementTimeout),
		})
		if err != nil {
			return nil, fmt.Errorf("server: open %s: %w", cfg.Redacted().DB, err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("server: open %s: %w", cfg.DB, err)
	}
	return st, nil
}

// statementTimeout maps the config's 0 = off onto the backend's negative = off.
func statementTimeout(d config.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return time.Duration(d)
}

// keyFingerprintSetting records which master key the data was written with.
const keyFingerprintSetting = "secret_key_fingerprint"

// CheckKey makes sure the master key is the one the stored hashes were made
// with: the first start records its fingerprint, later starts compare.
func CheckKey(ctx context.Context, st store.Settings, keys *secret.Keys) error {
	stored, err := st.PutSettingIfAbsent(ctx, keyFingerprintSetting, keys.Fingerprint())
	if err != nil {
		return fmt.Errorf("server: checking the secret key: %w", err)
	}
	if stored != keys.Fingerprint() {
		return fmt.Errorf("server: the secret key does not match the one this database was written with (stored fingerprint %s, configured key %s); configure the original key", stored, keys.Fingerprint())
	}
	return nil
}
