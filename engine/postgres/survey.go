package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/engine/sanitise"
)

// surveyColumns lists every column of the tables a dump carries rows of,
// in table and column order, with its type and the single-column foreign
// key it is part of, if any. Names as the dump's COPY lines give them: a
// table of the public schema by its own name, others as schema.table.
const surveyColumns = `
	SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
	       COALESCE((SELECT CASE WHEN fn.nspname = 'public' THEN '' ELSE fn.nspname || '.' END || fc.relname || '.' || fa.attname
	                 FROM pg_constraint k
	                 JOIN pg_class fc ON fc.oid = k.confrelid
	                 JOIN pg_namespace fn ON fn.oid = fc.relnamespace
	                 JOIN pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = k.confkey[1]
	                 WHERE k.contype = 'f' AND k.conrelid = c.oid AND array_length(k.conkey, 1) = 1 AND k.conkey[1] = a.attnum
	                 LIMIT 1), '')
	FROM pg_class c
	JOIN pg_namespace n ON n.oid = c.relnamespace
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	WHERE c.relkind IN ('r', 'p')
	  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
	  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
	  AND NOT EXISTS (SELECT 1 FROM pg_depend d
	                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
	ORDER BY 1, 2, a.attnum`

// Survey lists every table and column of the live database and reads up
// to rows non-null values of each (as text), in one read-only
// transaction: for `envsync sanitise init` and a push's check of its pulls'
// rule sets (rows 0: names only). The values stay on this worker.
func (e *Engine) Survey(ctx context.Context, rows int) ([]sanitise.Sample, error) {
	conn, err := e.connect(ctx, e.t.Database)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("postgresql: survey %s: %w", e.t.Database, err)
	}
	defer tx.Rollback(context.Background())
	list, err := tx.Query(ctx, surveyColumns)
	if err != nil {
		return nil, fmt.Errorf("postgresql: list the columns of %s: %w", e.t.Database, err)
	}
	var out []sanitise.Sample
	var schemas []string
	for list.Next() {
		var schema, table string
		var c sanitise.SampleColumn
		if err := list.Scan(&schema, &table, &c.Name, &c.Type, &c.References); err != nil {
			list.Close()
			return nil, err
		}
		name := table
		if schema != "public" {
			name = schema + "." + table
		}
		if len(out) == 0 || out[len(out)-1].Table != name {
			out = append(out, sanitise.Sample{Table: name})
			schemas = append(schemas, schema)
		}
		last := &out[len(out)-1]
		last.Columns = append(last.Columns, c)
	}
	list.Close()
	if err := list.Err(); err != nil {
		return nil, fmt.Errorf("postgresql: list the columns of %s: %w", e.t.Database, err)
	}
	if rows <= 0 {
		return out, nil
	}
	for i := range out {
		if err := sampleTable(ctx, tx, schemas[i], &out[i], rows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sampleTable reads up to rows non-null values of each column of t.
func sampleTable(ctx context.Context, tx pgx.Tx, schema string, t *sanitise.Sample, rows int) error {
	table := strings.TrimPrefix(t.Table, schema+".")
	from := pgx.Identifier{schema, table}.Sanitize()
	for ci := range t.Columns {
		col := pgx.Identifier{t.Columns[ci].Name}.Sanitize()
		r, err := tx.Query(ctx, fmt.Sprintf("SELECT %s::text FROM ONLY %s WHERE %s IS NOT NULL LIMIT %d", col, from, col, rows))
		if err != nil {
			return fmt.Errorf("postgresql: sample %s.%s: %w", t.Table, t.Columns[ci].Name, err)
		}
		for r.Next() {
			var v string
			if err := r.Scan(&v); err != nil {
				r.Close()
				return err
			}
			t.Columns[ci].Values = append(t.Columns[ci].Values, []byte(v))
		}
		r.Close()
		if err := r.Err(); err != nil {
			return fmt.Errorf("postgresql: sample %s.%s: %w", t.Table, t.Columns[ci].Name, err)
		}
	}
	return nil
}
