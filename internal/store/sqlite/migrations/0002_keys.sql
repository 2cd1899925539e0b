-- OIDC signing keys. private_key is sealed (AES-GCM under the configured
-- secret key, the id as additional data), never the key in clear.
-- expires_at is NULL until a newer key supersedes this one.

CREATE TABLE signing_keys (
	id          TEXT    NOT NULL PRIMARY KEY,
	algorithm   TEXT    NOT NULL,
	private_key BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER
) STRICT;
CREATE INDEX signing_keys_expires_at ON signing_keys (expires_at);
