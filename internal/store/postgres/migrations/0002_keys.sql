-- compatible-with: 1
--
-- OIDC signing keys. private_key is sealed (AES-GCM under the configured
-- secret key, the id as additional data), never the key in clear.
-- expires_at is NULL until a newer key supersedes this one. Only adds a
-- table: a release at schema 1 runs unchanged against it.

CREATE TABLE signing_keys (
	id          text   NOT NULL PRIMARY KEY,
	algorithm   text   NOT NULL,
	private_key bytea  NOT NULL,
	created_at  bigint NOT NULL,
	expires_at  bigint
);
CREATE INDEX signing_keys_expires_at ON signing_keys (expires_at);
