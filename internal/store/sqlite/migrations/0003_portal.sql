-- The SSO portal: AWS accounts, groups of users, role assignments, and the
-- sealed static credentials of accounts served by emulators. Users are
-- referred to by id without a foreign key (see store.Portal); accounts and
-- groups own what refers to them.

CREATE TABLE aws_accounts (
	id         TEXT NOT NULL PRIMARY KEY,
	name       TEXT NOT NULL,
	email      TEXT NOT NULL,
	created_at INTEGER
) STRICT;

CREATE TABLE user_groups (
	id         TEXT NOT NULL PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at INTEGER
) STRICT;

CREATE TABLE group_members (
	group_id   TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
	user_id    TEXT NOT NULL,
	created_at INTEGER,
	PRIMARY KEY (group_id, user_id)
) STRICT;
CREATE INDEX group_members_user_id ON group_members (user_id);

-- principal_id is a user id or a group id, so it has no foreign key;
-- DeleteGroup removes a group's assignments itself.
CREATE TABLE role_assignments (
	account_id     TEXT    NOT NULL REFERENCES aws_accounts (id) ON DELETE CASCADE,
	role_name      TEXT    NOT NULL,
	principal_type TEXT    NOT NULL,
	principal_id   TEXT    NOT NULL,
	duration_us    INTEGER NOT NULL,
	created_at     INTEGER,
	PRIMARY KEY (account_id, role_name, principal_type, principal_id)
) STRICT;
CREATE INDEX role_assignments_principal ON role_assignments (principal_type, principal_id, account_id);

-- sealed is the secret access key and session token, encrypted by the
-- application under the master key; role_name '' covers every role.
CREATE TABLE static_credentials (
	account_id    TEXT NOT NULL REFERENCES aws_accounts (id) ON DELETE CASCADE,
	role_name     TEXT NOT NULL,
	access_key_id TEXT NOT NULL,
	sealed        BLOB NOT NULL,
	created_at    INTEGER,
	PRIMARY KEY (account_id, role_name)
) STRICT;
