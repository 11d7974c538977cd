package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/engine/sqlrules"
)

var _ engine.Sanitiser = (*Engine)(nil)

// Sanitise applies rules to the staging schema: tables and columns are
// checked first (a rule for a missing one fails before any statement
// runs), then deletes, one set-based UPDATE per rule, the extra SQL, and the
// verify queries, which must find no rows. InnoDB runs it in one
// transaction; a failure leaves the staging schema to be dropped anyway.
func (e *Engine) Sanitise(ctx context.Context, staging string, rules *sanitise.Rules, hashKey string) (engine.SanitiseReport, error) {
	rep := engine.SanitiseReport{Rows: map[string]int64{}}
	if err := engine.CheckStaging("mysql", staging); err != nil {
		return rep, err
	}
	conn, err := e.connect(ctx, staging)
	if err != nil {
		return rep, err
	}
	defer conn.Close()
	for _, t := range rules.Tables {
		for _, r := range append([]sanitise.Rule{{}}, t.Rules...) {
			var n int
			q := `SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`
			args := []any{staging, t.Name}
			what := "table"
			if r.Column != "" {
				q += " AND COLUMN_NAME = ?"
				args, what = append(args, r.Column), "column"
			}
			if err := conn.QueryRowContext(ctx, q, args...).Scan(&n); err != nil || n == 0 {
				name := t.Name
				if r.Column != "" {
					name += "." + r.Column
				}
				return rep, engine.Permanent(fmt.Errorf("mysql: rule %s: no such %s in the restored schema", name, what))
			}
		}
	}
	fail := func(err error) (engine.SanitiseReport, error) {
		return rep, engine.Permanent(fmt.Errorf("mysql: sanitise %s: %s", staging, engine.Redact(err.Error())))
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return rep, err
	}
	defer tx.Rollback()
	stmts, err := sqlrules.Compile(sqlrules.MySQL, rules.Tables)
	if err != nil {
		return fail(err)
	}
	for _, s := range stmts {
		res, err := tx.ExecContext(ctx, s.SQL)
		if err != nil {
			return fail(fmt.Errorf("rule %s: %w", s, err))
		}
		n, _ := res.RowsAffected()
		rep.Rows[s.Rule] = n
	}
	for i, stmt := range splitSQL(rules.SQL) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fail(fmt.Errorf("rule sql, statement %d: %w", i+1, err))
		}
	}
	for i, q := range rules.Verify {
		var n int64
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM ("+q+") AS verify").Scan(&n); err != nil {
			return fail(fmt.Errorf("verify[%d]: %w", i, err))
		}
		if n != 0 {
			return fail(fmt.Errorf("verify[%d] found %d rows that must not be there (%s)", i, n, q))
		}
		rep.Verified++
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return rep, nil
}

// splitSQL splits the rule set's SQL into statements on semicolons at line
// ends, which is how transformation SQL files are written; the driver runs
// one statement at a time.
func splitSQL(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ";\n") {
		if p := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), ";")); p != "" {
			out = append(out, p)
		}
	}
	return out
}
