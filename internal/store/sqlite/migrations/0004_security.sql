-- Security: rate-limit counters, per-user sign-in state (lock-out, MFA
-- requirement), TOTP enrolments with their recovery codes, and the audit
-- trail.

-- One row per limited key (a keyed hash of an IP group, a user, an account
-- name…); see store.RateRule for the columns' meaning.
CREATE TABLE rate_limits (
	key           BLOB    NOT NULL PRIMARY KEY,
	window_start  INTEGER NOT NULL,
	hits          INTEGER NOT NULL,
	strikes       INTEGER NOT NULL,
	blocked_until INTEGER,
	expires_at    INTEGER NOT NULL,
	-- The latest hit's verdict: 0 allowed, 1 refused and started a block, 2
	-- refused while blocked. RETURNING sees only the new row, so the hit
	-- records its verdict here to report it.
	verdict       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at);

-- No foreign keys to users, as for sessions.
CREATE TABLE user_security (
	user_id      TEXT    NOT NULL PRIMARY KEY,
	failures     INTEGER NOT NULL DEFAULT 0,
	locked_at    INTEGER,
	mfa_required INTEGER NOT NULL DEFAULT 0
) STRICT;

-- secret is the TOTP seed sealed with AES-GCM (the user id as additional
-- data); confirmed_at is NULL until the first code confirms the enrolment.
CREATE TABLE mfa_totp (
	user_id      TEXT    NOT NULL PRIMARY KEY,
	secret       BLOB    NOT NULL,
	created_at   INTEGER,
	confirmed_at INTEGER,
	last_step    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE mfa_recovery_codes (
	user_id   TEXT NOT NULL,
	code_hash BLOB NOT NULL,
	PRIMARY KEY (user_id, code_hash)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_events (
	id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	time       INTEGER NOT NULL,
	type       TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	client_id  TEXT    NOT NULL,
	detail     TEXT    NOT NULL,
	request_id TEXT    NOT NULL,
	client_ip  TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_user_id ON audit_events (user_id, id);

-- max_live_device_grants_per_client counts a client's live grants.
CREATE INDEX device_grants_client_id ON device_grants (client_id, expires_at);
