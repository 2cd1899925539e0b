-- Tokens keep their family's id but no longer reference it with a foreign
-- key or an index. Every refresh inserts two tokens; with an index on
-- family_id each insert also changed the index page where its family's
-- entries are — a different page for every family refreshing at that
-- moment, each written to the WAL and copied back by the checkpoint.
-- Lookups are by hash and join the family, so the token of a family that
-- is gone is found by nothing; DeleteExpired removes such tokens by sweeping
-- the tables in rowid order (store.go's DeleteExpired contract is kept:
-- tokens leave with their family, uncounted).

CREATE TABLE access_tokens_v5 (
	hash       BLOB NOT NULL PRIMARY KEY,
	family_id  TEXT NOT NULL,
	created_at INTEGER,
	expires_at INTEGER
) STRICT;
INSERT INTO access_tokens_v5 (hash, family_id, created_at, expires_at)
	SELECT hash, family_id, created_at, expires_at FROM access_tokens ORDER BY rowid;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_v5 RENAME TO access_tokens;

CREATE TABLE refresh_tokens_v5 (
	hash       BLOB NOT NULL PRIMARY KEY,
	family_id  TEXT NOT NULL,
	created_at INTEGER,
	expires_at INTEGER,
	rotated_at INTEGER
) STRICT;
INSERT INTO refresh_tokens_v5 (hash, family_id, created_at, expires_at, rotated_at)
	SELECT hash, family_id, created_at, expires_at, rotated_at FROM refresh_tokens ORDER BY rowid;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_v5 RENAME TO refresh_tokens;
