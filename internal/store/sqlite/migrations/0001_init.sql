-- Initial schema. Times are INTEGER unix microseconds in UTC, NULL for the
-- zero time; durations are INTEGER microseconds; hashes are BLOBs; string
-- lists are JSON arrays in TEXT. STRICT makes SQLite reject a value of the
-- wrong type instead of silently storing it.

CREATE TABLE clients (
	id            TEXT NOT NULL PRIMARY KEY,
	secret_hash   BLOB,
	name          TEXT NOT NULL,
	type          TEXT NOT NULL,
	scopes        TEXT NOT NULL,
	grant_types   TEXT NOT NULL,
	redirect_uris TEXT NOT NULL,
	issuer_url    TEXT NOT NULL,
	created_at    INTEGER,
	expires_at    INTEGER
) STRICT;
CREATE INDEX clients_expires_at ON clients (expires_at);

CREATE TABLE device_grants (
	device_code_hash   BLOB NOT NULL PRIMARY KEY,
	user_code_hash     BLOB NOT NULL UNIQUE,
	client_id          TEXT NOT NULL,
	scopes             TEXT NOT NULL,
	start_url          TEXT NOT NULL,
	status             TEXT NOT NULL,
	interval_us        INTEGER NOT NULL,
	created_at         INTEGER,
	expires_at         INTEGER,
	last_poll_at       INTEGER,
	prev_poll_at       INTEGER,
	-- Whether the latest poll was told to slow down. RETURNING sees only the
	-- new row, so the poll UPDATE records its verdict here to report it.
	slowed             INTEGER NOT NULL DEFAULT 0,
	user_id            TEXT NOT NULL,
	decided_at         INTEGER,
	request_ip         TEXT NOT NULL,
	request_user_agent TEXT NOT NULL
) STRICT;
CREATE INDEX device_grants_expires_at ON device_grants (expires_at);

CREATE TABLE auth_codes (
	code_hash      BLOB NOT NULL PRIMARY KEY,
	client_id      TEXT NOT NULL,
	user_id        TEXT NOT NULL,
	redirect_uri   TEXT NOT NULL,
	code_challenge TEXT NOT NULL,
	scopes         TEXT NOT NULL,
	nonce          TEXT NOT NULL,
	auth_time      INTEGER,
	created_at     INTEGER,
	expires_at     INTEGER,
	consumed_at    INTEGER,
	family_id      TEXT NOT NULL
) STRICT;
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE token_families (
	id         TEXT NOT NULL PRIMARY KEY,
	client_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	auth_time  INTEGER,
	created_at INTEGER,
	expires_at INTEGER,
	revoked_at INTEGER
) STRICT;
CREATE INDEX token_families_user_id ON token_families (user_id);
CREATE INDEX token_families_expires_at ON token_families (expires_at);

-- Tokens live and die with their family: collecting a family removes them.
CREATE TABLE access_tokens (
	hash       BLOB NOT NULL PRIMARY KEY,
	family_id  TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
	created_at INTEGER,
	expires_at INTEGER
) STRICT;
CREATE INDEX access_tokens_family_id ON access_tokens (family_id);

CREATE TABLE refresh_tokens (
	hash       BLOB NOT NULL PRIMARY KEY,
	family_id  TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
	created_at INTEGER,
	expires_at INTEGER,
	rotated_at INTEGER
) STRICT;
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

CREATE TABLE users (
	id            TEXT NOT NULL PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	email         TEXT NOT NULL,
	display_name  TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	disabled      INTEGER NOT NULL,
	created_at    INTEGER,
	updated_at    INTEGER
) STRICT;

-- No foreign key to users: DeleteUser removes a user's sessions in its own
-- transaction, and records never depend on the directory's insertion order.
CREATE TABLE sessions (
	id_hash    BLOB NOT NULL PRIMARY KEY,
	user_id    TEXT NOT NULL,
	auth_time  INTEGER,
	created_at INTEGER,
	expires_at INTEGER
) STRICT;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE settings (
	key   TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;
