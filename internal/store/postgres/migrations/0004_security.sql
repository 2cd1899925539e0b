-- compatible-with: 1
--
-- Security: rate-limit counters, per-user sign-in state (lock-out, MFA
-- requirement), TOTP enrolments with their recovery codes, and the audit
-- trail. Only additions: the previous release runs on this schema.

-- One row per limited key (a keyed hash of an IP group, a user, an account
-- name…); see store.RateRule for the columns' meaning.
CREATE TABLE rate_limits (
	key           bytea   NOT NULL PRIMARY KEY,
	window_start  bigint  NOT NULL,
	hits          integer NOT NULL,
	strikes       integer NOT NULL,
	blocked_until bigint,
	expires_at    bigint  NOT NULL,
	-- The latest hit's verdict: 0 allowed, 1 refused and started a block, 2
	-- refused while blocked. RETURNING sees only the new row, so the hit
	-- records its verdict here to report it.
	verdict       smallint NOT NULL
);
CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at);

-- No foreign keys to users, as for sessions.
CREATE TABLE user_security (
	user_id      text    NOT NULL PRIMARY KEY,
	failures     integer NOT NULL DEFAULT 0,
	locked_at    bigint,
	mfa_required boolean NOT NULL DEFAULT false
);

-- secret is the TOTP seed sealed with AES-GCM (the user id as additional
-- data); confirmed_at is NULL until the first code confirms the enrolment.
CREATE TABLE mfa_totp (
	user_id      text   NOT NULL PRIMARY KEY,
	secret       bytea  NOT NULL,
	created_at   bigint,
	confirmed_at bigint,
	last_step    bigint NOT NULL DEFAULT 0
);

CREATE TABLE mfa_recovery_codes (
	user_id   text  NOT NULL,
	code_hash bytea NOT NULL,
	PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE audit_events (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time       bigint NOT NULL,
	type       text   NOT NULL,
	user_id    text   NOT NULL,
	client_id  text   NOT NULL,
	detail     text   NOT NULL,
	request_id text   NOT NULL,
	client_ip  text   NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_user_id ON audit_events (user_id, id);

-- max_live_device_grants_per_client counts a client's live grants.
CREATE INDEX device_grants_client_id ON device_grants (client_id, expires_at);
