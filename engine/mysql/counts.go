package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/envsync/envsync/engine"
)

var _ engine.Counter = (*Engine)(nil)

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// countTables counts the rows of schema's base tables (not views), less
// skip: the tables a dump leaves out.
// other lists the counted tables of engines without transactions (MyISAM),
// which no snapshot covers.
func countTables(ctx context.Context, q querier, schema string, skip []string) (counts map[string]int64, other []string, err error) {
	rows, err := q.QueryContext(ctx, `SELECT TABLE_NAME, COALESCE(ENGINE, '') FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'`, schema)
	if err != nil {
		return nil, nil, fmt.Errorf("mysql: list the tables of %s to count (verify: none skips counting): %w", schema, err)
	}
	var names []string
	for rows.Next() {
		var n, eng string
		if err := rows.Scan(&n, &eng); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if slices.Contains(skip, n) {
			continue
		}
		names = append(names, n)
		if !strings.EqualFold(eng, "InnoDB") {
			other = append(other, n)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("mysql: list the tables of %s to count: %w", schema, err)
	}
	counts = make(map[string]int64, len(names))
	for _, n := range names {
		var c int64
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+ident(schema)+"."+ident(n)).Scan(&c); err != nil {
			return nil, nil, fmt.Errorf("mysql: count the rows of %s.%s (verify: none skips counting): %w", schema, n, err)
		}
		counts[n] = c
	}
	slices.Sort(other)
	return counts, other, nil
}

// Count counts the rows of every table of schema (a restored staging copy).
func (e *Engine) Count(ctx context.Context, schema string) (map[string]int64, error) {
	db, err := e.connect(ctx, schema)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	counts, _, err := countTables(ctx, db, schema, nil)
	return counts, err
}
