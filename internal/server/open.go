package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

// OpenStore opens the backend the db setting names: a postgres:// URL is
// PostgreSQL, anything else a SQLite file path. Migrations run on open.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.IsPostgres() {
		return nil, errors.New("server: PostgreSQL storage is not available in this build yet")
	}
	st, err := sqlite.Open(ctx, cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("server: open %s: %w", cfg.DB, err)
	}
	return st, nil
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
