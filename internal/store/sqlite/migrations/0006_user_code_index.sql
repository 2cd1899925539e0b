-- Device grants lose the index on their user code hash: a random key that
-- took every new grant to a random page of that index, written to the WAL
-- and copied back at the next checkpoint. The SQLite store finds a grant by
-- its user code through an index it keeps in memory, built from this table
-- (usercodes.go), and keeps user codes unique there. Row ids are kept: that
-- index points at them.

CREATE TABLE device_grants_v6 (
	device_code_hash   BLOB NOT NULL PRIMARY KEY,
	user_code_hash     BLOB NOT NULL,
	client_id          TEXT NOT NULL,
	scopes             TEXT NOT NULL,
	start_url          TEXT NOT NULL,
	status             TEXT NOT NULL,
	interval_us        INTEGER NOT NULL,
	created_at         INTEGER,
	expires_at         INTEGER,
	last_poll_at       INTEGER,
	prev_poll_at       INTEGER,
	slowed             INTEGER NOT NULL DEFAULT 0,
	user_id            TEXT NOT NULL,
	decided_at         INTEGER,
	request_ip         TEXT NOT NULL,
	request_user_agent TEXT NOT NULL
) STRICT;
INSERT INTO device_grants_v6 (rowid, device_code_hash, user_code_hash, client_id, scopes, start_url, status,
		interval_us, created_at, expires_at, last_poll_at, prev_poll_at, slowed, user_id, decided_at,
		request_ip, request_user_agent)
	SELECT rowid, device_code_hash, user_code_hash, client_id, scopes, start_url, status,
		interval_us, created_at, expires_at, last_poll_at, prev_poll_at, slowed, user_id, decided_at,
		request_ip, request_user_agent
	FROM device_grants;
DROP TABLE device_grants;
ALTER TABLE device_grants_v6 RENAME TO device_grants;
CREATE INDEX device_grants_expires_at ON device_grants (expires_at);
CREATE INDEX device_grants_client_id ON device_grants (client_id, expires_at);
