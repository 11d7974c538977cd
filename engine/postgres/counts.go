package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
)

var _ engine.Counter = (*Engine)(nil)

// tablesWithData lists the tables whose rows pg_dump writes: ordinary
// tables outside the system schemas that no extension owns (an extension's
// tables are filled by CREATE EXTENSION on restore, not by the dump).
// Partitioned tables hold no rows of their own: their partitions are
// listed.
const tablesWithData = `
	SELECT n.nspname, c.relname
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.relkind = 'r' AND c.relpersistence <> 't'
	  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
	  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
	  AND NOT EXISTS (SELECT 1 FROM pg_depend d
	                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
	ORDER BY 1, 2`

// listTables lists the tables with data as q's snapshot sees them:
// schema and name, unquoted.
func listTables(ctx context.Context, q pgx.Tx) ([][2]string, error) {
	rows, err := q.Query(ctx, tablesWithData)
	if err != nil {
		return nil, fmt.Errorf("postgresql: list tables to count: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var t [2]string
		return t, r.Scan(&t[0], &t[1])
	})
	if err != nil {
		return nil, fmt.Errorf("postgresql: list tables to count: %w", err)
	}
	return tables, nil
}

// countTables counts the rows of every table with data, as q's snapshot
// sees them. Names are schema.table, unquoted.
func countTables(ctx context.Context, q pgx.Tx) (map[string]int64, error) {
	tables, err := listTables(ctx, q)
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int64, len(tables))
	for _, t := range tables {
		var n int64
		// ONLY: an inherited table's children are counted as themselves.
		if err := q.QueryRow(ctx, "SELECT count(*) FROM ONLY "+pgx.Identifier{t[0], t[1]}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("postgresql: count the rows of %s.%s (verify: none skips counting): %w", t[0], t[1], err)
		}
		counts[t[0]+"."+t[1]] = n
	}
	return counts, nil
}

// Count counts the rows of every table of database (a restored staging
// copy), in one read-only transaction.
func (e *Engine) Count(ctx context.Context, database string) (map[string]int64, error) {
	conn, err := e.connect(ctx, database)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("postgresql: begin counting %s: %w", database, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return countTables(ctx, tx)
}

// snapshot is a transaction that exported its snapshot for pg_dump
// (--snapshot), so the rows it counts are exactly the rows dumped.
type snapshot struct {
	tx pgx.Tx
	id string
}

func exportSnapshot(ctx context.Context, conn *pgx.Conn) (*snapshot, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("postgresql: begin the dump's snapshot: %w", err)
	}
	s := &snapshot{tx: tx}
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&s.id); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("postgresql: export the dump's snapshot (verify: none skips counting): %w", err)
	}
	return s, nil
}

// count counts in the background while pg_dump reads the same snapshot;
// concurrent sequential scans of one table share their reads. The result
// arrives on the channel.
func (s *snapshot) count(ctx context.Context) <-chan countResult {
	out := make(chan countResult, 1)
	go func() {
		c, err := countTables(ctx, s.tx)
		out <- countResult{c, err}
	}()
	return out
}

type countResult struct {
	tables map[string]int64
	err    error
}

func exactCounts(tables map[string]int64) *dump.Counts {
	return &dump.Counts{Of: "table", Exact: true, Tables: tables}
}
