package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// wtx is a group commit's transaction, on the writer's driver connection
// itself. database/sql wraps every statement of a transaction in a Stmt of
// its own, converts its arguments into a fresh slice and tracks both; under
// refresh load that bookkeeping was an eighth of the server's CPU and a
// third of its allocations. The committer
// holds the connection for the whole batch (sql.Conn.Raw), so the
// statements it runs can be the driver's own, prepared once, with one
// argument slice reused.
type wtx struct {
	conn  rawConn
	tx    driver.Tx
	stmts *writeStmts
	args  []driver.NamedValue
	vals  []driver.Value
}

// rawConn is what the committer needs of a driver connection.
type rawConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
}

// rawStmt is a prepared driver statement.
type rawStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// writeStmts are the group commit's statements, prepared on conn.
type writeStmts struct {
	conn rawConn

	rotationLookup rawStmt
	insertGrant    rawStmt
	insertAccess   rawStmt
	insertRefresh  rawStmt
	markRotated    rawStmt
	insertAudit    rawStmt // auditRowsPerInsert events
	savepoint      rawStmt
	rollbackTo     rawStmt
	release        rawStmt
}

func prepareWriteStmts(ctx context.Context, conn rawConn) (*writeStmts, error) {
	ws := &writeStmts{conn: conn}
	for _, p := range []struct {
		stmt  *rawStmt
		query string
	}{
		{&ws.rotationLookup, `SELECT ` + refreshCols + `, ` + familyCols + `, u.id IS NULL, coalesce(u.disabled, 0)
			FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id LEFT JOIN users u ON u.id = f.user_id
			WHERE r.hash = ?`},
		{&ws.insertGrant, `INSERT INTO device_grants (` + deviceGrantCols + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&ws.insertAccess, `INSERT INTO access_tokens (hash, family_id, created_at, expires_at) VALUES (?, ?, ?, ?)`},
		{&ws.insertRefresh, `INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, rotated_at)
			VALUES (?, ?, ?, ?, ?)`},
		{&ws.markRotated, `UPDATE refresh_tokens SET rotated_at = ? WHERE hash = ?`},
		{&ws.insertAudit, auditInsert(auditRowsPerInsert)},
		{&ws.savepoint, `SAVEPOINT write`},
		{&ws.rollbackTo, `ROLLBACK TO write`},
		{&ws.release, `RELEASE write`},
	} {
		st, err := conn.PrepareContext(ctx, p.query)
		if err != nil {
			ws.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		rs, ok := st.(rawStmt)
		if !ok {
			st.Close()
			ws.close()
			return nil, fmt.Errorf("prepare: the driver's statement is a %T", st)
		}
		*p.stmt = rs
	}
	return ws, nil
}

func (ws *writeStmts) close() {
	for _, st := range []rawStmt{ws.rotationLookup, ws.insertGrant, ws.insertAccess, ws.insertRefresh,
		ws.markRotated, ws.insertAudit, ws.savepoint, ws.rollbackTo, ws.release} {
		if st != nil {
			st.Close()
		}
	}
}

// named sets the reused argument slice to args.
func (t *wtx) named(args []any) ([]driver.NamedValue, error) {
	t.args = t.args[:0]
	for i, a := range args {
		if !driver.IsValue(a) {
			v, err := driver.DefaultParameterConverter.ConvertValue(a)
			if err != nil {
				return nil, fmt.Errorf("argument %d: %w", i+1, err)
			}
			a = v
		}
		t.args = append(t.args, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	return t.args, nil
}

// exec runs a prepared statement.
func (t *wtx) exec(ctx context.Context, st rawStmt, args ...any) (driver.Result, error) {
	named, err := t.named(args)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, named)
}

// ExecContext runs query, prepared for this call: a wtx is an execer.
func (t *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	named, err := t.named(args)
	if err != nil {
		return nil, err
	}
	return t.conn.ExecContext(ctx, query, named)
}

// queryRow runs a prepared query and scans its first row into dest;
// sql.ErrNoRows if there is none.
func (t *wtx) queryRow(ctx context.Context, st rawStmt, args []any, dest ...any) error {
	named, err := t.named(args)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, named)
	return t.scanOne(rows, err, dest)
}

// queryRowSQL is queryRow for a query prepared for this call.
func (t *wtx) queryRowSQL(ctx context.Context, query string, args []any, dest ...any) error {
	named, err := t.named(args)
	if err != nil {
		return err
	}
	rows, err := t.conn.QueryContext(ctx, query, named)
	return t.scanOne(rows, err, dest)
}

func (t *wtx) scanOne(rows driver.Rows, err error, dest []any) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	if n := len(rows.Columns()); n != len(dest) {
		return fmt.Errorf("sqlite: %d columns scanned into %d values", n, len(dest))
	}
	if cap(t.vals) < len(dest) {
		t.vals = make([]driver.Value, len(dest))
	}
	t.vals = t.vals[:len(dest)]
	if err := rows.Next(t.vals); err != nil {
		if errors.Is(err, io.EOF) {
			return sql.ErrNoRows
		}
		return err
	}
	for i, d := range dest {
		if err := assign(d, t.vals[i]); err != nil {
			return fmt.Errorf("sqlite: column %d: %w", i+1, err)
		}
	}
	return nil
}

// assign stores a column's value in dest, for the destinations the group
// commit's queries use (database/sql's Scan, for these types).
func assign(dest any, v driver.Value) error {
	switch d := dest.(type) {
	case sql.Scanner:
		return d.Scan(v)
	case *string:
		switch v := v.(type) {
		case string:
			*d = v
			return nil
		case []byte:
			*d = string(v)
			return nil
		}
	case *[]byte:
		switch v := v.(type) {
		case []byte:
			*d = bytes.Clone(v)
			return nil
		case string:
			*d = []byte(v)
			return nil
		case nil:
			*d = nil
			return nil
		}
	case *bool:
		if v, ok := v.(int64); ok {
			*d = v != 0
			return nil
		}
	case *int64:
		if v, ok := v.(int64); ok {
			*d = v
			return nil
		}
	}
	return fmt.Errorf("cannot store %T in %T", v, dest)
}
