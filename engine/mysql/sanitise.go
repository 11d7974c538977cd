package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/sanitise"
)

var _ engine.Sanitiser = (*Engine)(nil)

// Sanitise applies rules to the staging schema: tables and columns are
// checked first (a rule for a missing one fails before any statement
// runs), then deletes, one set-based UPDATE per rule, the extra SQL, and the
// verify queries, which must find no rows. InnoDB runs it in one
// transaction; a failure leaves the staging schema to be dropped anyway.
func (e *Engine) Sanitise(ctx context.Context, staging string, rules *sanitise.Rules, hashKey string) (engine.SanitiseReport, error) {
	rep := engine.SanitiseReport{Rows: map[string]int64{}}
	if err := checkStaging(staging); err != nil {
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
	exec := func(name, q string, args ...any) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("rule %s: %w", name, err)
		}
		n, _ := res.RowsAffected()
		rep.Rows[name] = n
		return nil
	}
	for _, t := range rules.Tables {
		table := ident(t.Name)
		if t.DeleteWhere != "" {
			if err := exec(t.Name+".delete_where", "DELETE FROM "+table+" WHERE ("+t.DeleteWhere+")"); err != nil {
				return fail(err)
			}
		}
		for _, r := range t.Rules {
			q, args, err := update(table, r, hashKey)
			if err != nil {
				return fail(fmt.Errorf("rule %s.%s: %w", t.Name, r.Column, err))
			}
			if err := exec(t.Name+"."+r.Column, q, args...); err != nil {
				return fail(err)
			}
		}
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

// update compiles one rule into one set-based UPDATE.
func update(table string, r sanitise.Rule, hashKey string) (string, []any, error) {
	col := ident(r.Column)
	set := func(expr string, args ...any) (string, []any, error) {
		return "UPDATE " + table + " SET " + col + " = " + expr + " WHERE " + col + " IS NOT NULL", args, nil
	}
	switch r.Kind {
	case "null":
		return "UPDATE " + table + " SET " + col + " = NULL WHERE " + col + " IS NOT NULL", nil, nil
	case "fixed":
		return set("?", r.Value)
	case "email":
		return "UPDATE " + table + " AS t JOIN (SELECT v, ROW_NUMBER() OVER (ORDER BY v) AS n FROM (SELECT DISTINCT " + col + " AS v FROM " + table +
			" WHERE " + col + " IS NOT NULL) s) d ON t." + col + " = d.v SET t." + col + " = CONCAT('anonymous-', d.n, '@example.com')", nil, nil
	case "hash":
		if hashKey == "" {
			return "", nil, errors.New("the hash transformer needs ENVSYNC_HASH_KEY (16 characters or more) on the worker")
		}
		return set("SHA2(CONCAT(?, ':', "+col+"), 256)", hashKey)
	case "lorem":
		return set("LEFT(REPEAT('lorem ipsum dolor sit amet ', FLOOR(CHAR_LENGTH(" + col + ") / 27) + 1), CHAR_LENGTH(" + col + "))")
	case "redact":
		return set("REGEXP_REPLACE("+col+", ?, '[redacted]')", r.Pattern)
	case "rewrite":
		return set("REPLACE("+col+", ?, ?)", r.From, r.To)
	}
	return "", nil, fmt.Errorf("unknown transformer %q", r.Kind)
}
