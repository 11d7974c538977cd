package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/envsync/envsync/engine/sanitise"
)

// Survey lists every column of the schema's base tables (less the excluded
// ones, which no dump carries) with its type and single-column foreign
// key, and reads up to rows non-null values of each as text: for `envsync
// sanitise init` and a push's check of its pulls' rule sets (rows 0: names
// only). The values stay on this worker.
func (e *Engine) Survey(ctx context.Context, rows int) ([]sanitise.Sample, error) {
	db, err := e.connect(ctx, e.t.Database)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	list, err := db.QueryContext(ctx, `
		SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE,
		       COALESCE((SELECT CONCAT(k.REFERENCED_TABLE_NAME, '.', k.REFERENCED_COLUMN_NAME)
		                 FROM information_schema.KEY_COLUMN_USAGE k
		                 WHERE k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME AND k.COLUMN_NAME = c.COLUMN_NAME
		                   AND k.REFERENCED_TABLE_SCHEMA = c.TABLE_SCHEMA AND k.REFERENCED_COLUMN_NAME IS NOT NULL
		                 LIMIT 1), '')
		FROM information_schema.COLUMNS c
		JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
		WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE'
		ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`, e.t.Database)
	if err != nil {
		return nil, fmt.Errorf("mysql: list the columns of %s: %w", e.t.Database, err)
	}
	var out []sanitise.Sample
	for list.Next() {
		var table string
		var c sanitise.SampleColumn
		if err := list.Scan(&table, &c.Name, &c.Type, &c.References); err != nil {
			list.Close()
			return nil, err
		}
		if slices.Contains(e.excluded, table) {
			continue
		}
		if len(out) == 0 || out[len(out)-1].Table != table {
			out = append(out, sanitise.Sample{Table: table})
		}
		out[len(out)-1].Columns = append(out[len(out)-1].Columns, c)
	}
	list.Close()
	if err := list.Err(); err != nil {
		return nil, fmt.Errorf("mysql: list the columns of %s: %w", e.t.Database, err)
	}
	for i := range out {
		if rows <= 0 {
			break
		}
		if err := e.sampleTable(ctx, db, &out[i], rows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (e *Engine) sampleTable(ctx context.Context, db *sql.DB, t *sanitise.Sample, rows int) error {
	for ci := range t.Columns {
		col := ident(t.Columns[ci].Name)
		r, err := db.QueryContext(ctx, fmt.Sprintf("SELECT CAST(%s AS CHAR) FROM %s.%s WHERE %s IS NOT NULL LIMIT %d", col, ident(e.t.Database), ident(t.Table), col, rows))
		if err != nil {
			return fmt.Errorf("mysql: sample %s.%s: %w", t.Table, t.Columns[ci].Name, err)
		}
		for r.Next() {
			var v []byte
			if err := r.Scan(&v); err != nil {
				r.Close()
				return err
			}
			t.Columns[ci].Values = append(t.Columns[ci].Values, slices.Clone(v))
		}
		r.Close()
		if err := r.Err(); err != nil {
			return fmt.Errorf("mysql: sample %s.%s: %w", t.Table, t.Columns[ci].Name, err)
		}
	}
	return nil
}
