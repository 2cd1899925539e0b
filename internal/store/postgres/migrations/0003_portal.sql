-- compatible-with: 1
--
-- The SSO portal: AWS accounts, groups of users, role assignments, and the
-- sealed static credentials of accounts served by emulators. Only adds
-- tables, so a release that does not know them runs on the result. Users
-- are referred to by id without a foreign key (see store.Portal); accounts
-- and groups own what refers to them. Keys and names compare in byte
-- order (COLLATE "C"), like SQLite's.

CREATE TABLE aws_accounts (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	name       text NOT NULL,
	email      text NOT NULL,
	created_at bigint
);

CREATE TABLE user_groups (
	id         text NOT NULL PRIMARY KEY,
	name       text COLLATE "C" NOT NULL UNIQUE,
	created_at bigint
);

CREATE TABLE group_members (
	group_id   text NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
	user_id    text COLLATE "C" NOT NULL,
	created_at bigint,
	PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_id ON group_members (user_id);

-- principal_id is a user id or a group id, so it has no foreign key;
-- DeleteGroup removes a group's assignments itself.
CREATE TABLE role_assignments (
	account_id     text COLLATE "C" NOT NULL REFERENCES aws_accounts (id) ON DELETE CASCADE,
	role_name      text COLLATE "C" NOT NULL,
	principal_type text COLLATE "C" NOT NULL,
	principal_id   text COLLATE "C" NOT NULL,
	duration_us    bigint NOT NULL,
	created_at     bigint,
	PRIMARY KEY (account_id, role_name, principal_type, principal_id)
);
CREATE INDEX role_assignments_principal ON role_assignments (principal_type, principal_id, account_id);

-- sealed is the secret access key and session token, encrypted by the
-- application under the master key; role_name '' covers every role.
CREATE TABLE static_credentials (
	account_id    text COLLATE "C" NOT NULL REFERENCES aws_accounts (id) ON DELETE CASCADE,
	role_name     text COLLATE "C" NOT NULL,
	access_key_id text  NOT NULL,
	sealed        bytea NOT NULL,
	created_at    bigint,
	PRIMARY KEY (account_id, role_name)
);
