-- compatible-with: 1
--
-- Initial schema. Times are bigint unix microseconds in UTC, NULL for the
-- zero time (a NULL expires_at never expires); durations are bigint
-- microseconds; hashes are bytea; string lists are text[], never NULL. The
-- same representation as the SQLite backend.
--
-- Every later migration must keep the schema usable by the previous
-- release (expand, then contract a release later) and say so in its
-- "compatible-with" line; see the package documentation.

CREATE TABLE clients (
	id            text   NOT NULL PRIMARY KEY,
	secret_hash   bytea,
	name          text   NOT NULL,
	type          text   NOT NULL,
	scopes        text[] NOT NULL,
	grant_types   text[] NOT NULL,
	redirect_uris text[] NOT NULL,
	issuer_url    text   NOT NULL,
	created_at    bigint,
	expires_at    bigint
);
CREATE INDEX clients_expires_at ON clients (expires_at);

CREATE TABLE device_grants (
	device_code_hash   bytea   NOT NULL PRIMARY KEY,
	user_code_hash     bytea   NOT NULL UNIQUE,
	client_id          text    NOT NULL,
	scopes             text[]  NOT NULL,
	start_url          text    NOT NULL,
	status             text    NOT NULL,
	interval_us        bigint  NOT NULL,
	created_at         bigint,
	expires_at         bigint,
	last_poll_at       bigint,
	prev_poll_at       bigint,
	-- Whether the latest poll was told to slow down. RETURNING sees only the
	-- new row, so the poll UPDATE records its verdict here to report it.
	slowed             boolean NOT NULL DEFAULT false,
	user_id            text    NOT NULL,
	decided_at         bigint,
	request_ip         text    NOT NULL,
	request_user_agent text    NOT NULL
);
CREATE INDEX device_grants_expires_at ON device_grants (expires_at);

CREATE TABLE auth_codes (
	code_hash      bytea  NOT NULL PRIMARY KEY,
	client_id      text   NOT NULL,
	user_id        text   NOT NULL,
	redirect_uri   text   NOT NULL,
	code_challenge text   NOT NULL,
	scopes         text[] NOT NULL,
	nonce          text   NOT NULL,
	auth_time      bigint,
	created_at     bigint,
	expires_at     bigint,
	consumed_at    bigint,
	family_id      text   NOT NULL
);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE token_families (
	id         text   NOT NULL PRIMARY KEY,
	client_id  text   NOT NULL,
	user_id    text   NOT NULL,
	scopes     text[] NOT NULL,
	auth_time  bigint,
	created_at bigint,
	expires_at bigint,
	revoked_at bigint
);
CREATE INDEX token_families_user_id ON token_families (user_id);
CREATE INDEX token_families_expires_at ON token_families (expires_at);

-- Tokens live and die with their family: collecting a family removes them.
CREATE TABLE access_tokens (
	hash       bytea NOT NULL PRIMARY KEY,
	family_id  text  NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
	created_at bigint,
	expires_at bigint
);
CREATE INDEX access_tokens_family_id ON access_tokens (family_id);

CREATE TABLE refresh_tokens (
	hash       bytea NOT NULL PRIMARY KEY,
	family_id  text  NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
	created_at bigint,
	expires_at bigint,
	rotated_at bigint
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- Names compare and sort in byte order, whatever the database's collation,
-- like SQLite's; the unique index then also serves ListUsers' ORDER BY.
CREATE TABLE users (
	id            text    NOT NULL PRIMARY KEY,
	name          text    COLLATE "C" NOT NULL UNIQUE,
	email         text    NOT NULL,
	display_name  text    NOT NULL,
	password_hash text    NOT NULL,
	disabled      boolean NOT NULL,
	created_at    bigint,
	updated_at    bigint
);

-- No foreign key to users: DeleteUser removes a user's sessions in its own
-- transaction, and records never depend on the directory's insertion order.
CREATE TABLE sessions (
	id_hash    bytea NOT NULL PRIMARY KEY,
	user_id    text  NOT NULL,
	auth_time  bigint,
	created_at bigint,
	expires_at bigint
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE settings (
	key   text NOT NULL PRIMARY KEY,
	value text NOT NULL
);
