-- Token tables are kept in the order of their hash (WITHOUT ROWID). A table
-- with a rowid keeps each row in two B-trees, the rows by rowid and the
-- primary key's index by hash, so every token written changed a page of
-- each, and each page went to the WAL and back through the checkpoint. A
-- token's hash leads with its issue time (secret.OrderedToken), so new rows
-- still land on the last page, now of one tree. The rows are small (under
-- 150 bytes), as such tables should be. DeleteExpired's sweep of tokens
-- whose family is gone now walks the tables in hash order.

CREATE TABLE access_tokens_v8 (
	hash       BLOB NOT NULL PRIMARY KEY,
	family_id  TEXT NOT NULL,
	created_at INTEGER,
	expires_at INTEGER
) STRICT, WITHOUT ROWID;
INSERT INTO access_tokens_v8 (hash, family_id, created_at, expires_at)
	SELECT hash, family_id, created_at, expires_at FROM access_tokens ORDER BY hash;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_v8 RENAME TO access_tokens;

CREATE TABLE refresh_tokens_v8 (
	hash       BLOB NOT NULL PRIMARY KEY,
	family_id  TEXT NOT NULL,
	created_at INTEGER,
	expires_at INTEGER,
	rotated_at INTEGER
) STRICT, WITHOUT ROWID;
INSERT INTO refresh_tokens_v8 (hash, family_id, created_at, expires_at, rotated_at)
	SELECT hash, family_id, created_at, expires_at, rotated_at FROM refresh_tokens ORDER BY hash;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_v8 RENAME TO refresh_tokens;
