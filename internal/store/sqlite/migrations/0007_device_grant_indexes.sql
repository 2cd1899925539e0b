-- Device grants lose their two secondary indexes. Each took every new
-- grant to one more index page, written to the WAL and copied back at the
-- next checkpoint: the expiry index at its right edge, the per-client one
-- at the client's place. The SQLite store purges grants in row order, which
-- is the order they were issued in (sqlite.go, deleteExpiredGrants), and
-- counts each client's pending grants in memory (livegrants.go).
DROP INDEX device_grants_expires_at;
DROP INDEX device_grants_client_id;
