package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/sanitise"
)

var _ engine.Sanitiser = (*Engine)(nil)

func qualified(name string) string {
	return pgx.Identifier(strings.Split(name, ".")).Sanitize()
}

// Sanitise applies rules to the staging database in one transaction: every
// table and column named is checked first (a rule for a missing one fails
// before any statement runs), then deletes, then one set-based UPDATE per
// rule, then the extra SQL, then the verify queries, which must find no
// rows.
func (e *Engine) Sanitise(ctx context.Context, staging string, rules *sanitise.Rules, hashKey string) (engine.SanitiseReport, error) {
	rep := engine.SanitiseReport{Rows: map[string]int64{}}
	if err := checkStaging(staging); err != nil {
		return rep, err
	}
	conn, err := e.connect(ctx, staging)
	if err != nil {
		return rep, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, t := range rules.Tables {
		if err := checkColumns(ctx, conn, t); err != nil {
			return rep, engine.Permanent(err)
		}
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, t := range rules.Tables {
			table := qualified(t.Name)
			if t.DeleteWhere != "" {
				tag, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE ("+t.DeleteWhere+")")
				if err != nil {
					return fmt.Errorf("rule %s.delete_where: %w", t.Name, err)
				}
				rep.Rows[t.Name+".delete_where"] = tag.RowsAffected()
			}
			for _, r := range t.Rules {
				sql, args, err := update(table, r, hashKey)
				if err != nil {
					return fmt.Errorf("rule %s.%s: %w", t.Name, r.Column, err)
				}
				tag, err := tx.Exec(ctx, sql, args...)
				if err != nil {
					return fmt.Errorf("rule %s.%s (%s): %w", t.Name, r.Column, r.Kind, err)
				}
				rep.Rows[t.Name+"."+r.Column] = tag.RowsAffected()
			}
		}
		if rules.SQL != "" {
			if _, err := tx.Exec(ctx, rules.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
				return fmt.Errorf("rule sql: %w", err)
			}
		}
		for i, q := range rules.Verify {
			var n int64
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM ("+q+") AS verify").Scan(&n); err != nil {
				return fmt.Errorf("verify[%d]: %w", i, err)
			}
			if n != 0 {
				return fmt.Errorf("verify[%d] found %d rows that must not be there (%s)", i, n, q)
			}
			rep.Verified++
		}
		return nil
	})
	if err != nil {
		return rep, engine.Permanent(fmt.Errorf("postgresql: sanitise %s: %s", staging, engine.Redact(err.Error())))
	}
	return rep, nil
}

func checkColumns(ctx context.Context, conn *pgx.Conn, t sanitise.Target) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", qualified(t.Name)).Scan(&exists); err != nil || !exists {
		return fmt.Errorf("rule %s: no such table in the restored database", t.Name)
	}
	for _, r := range t.Rules {
		var n int
		schema, table := "public", t.Name
		if s, tb, ok := strings.Cut(t.Name, "."); ok {
			schema, table = s, tb
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3`,
			schema, table, r.Column).Scan(&n); err != nil || n != 1 {
			return fmt.Errorf("rule %s.%s: no such column in the restored database", t.Name, r.Column)
		}
	}
	return nil
}

// update compiles one rule into one set-based UPDATE.
func update(table string, r sanitise.Rule, hashKey string) (string, []any, error) {
	col := pgx.Identifier{r.Column}.Sanitize()
	set := func(expr string, args ...any) (string, []any, error) {
		return "UPDATE " + table + " SET " + col + " = " + expr + " WHERE " + col + " IS NOT NULL", args, nil
	}
	switch r.Kind {
	case "null":
		return "UPDATE " + table + " SET " + col + " = NULL WHERE " + col + " IS NOT NULL", nil, nil
	case "fixed":
		return set("$1", r.Value)
	case "email":
		// anonymous-<n>@example.com, n numbering the distinct values, so
		// equal addresses stay equal and distinct ones stay distinct.
		return "UPDATE " + table + " AS t SET " + col + " = 'anonymous-' || d.n || '@example.com' FROM " +
			"(SELECT v, row_number() OVER (ORDER BY v) AS n FROM (SELECT DISTINCT " + col + "::text AS v FROM " + table + " WHERE " + col + " IS NOT NULL) s) d " +
			"WHERE t." + col + "::text = d.v", nil, nil
	case "hash":
		if hashKey == "" {
			return "", nil, errors.New("the hash transformer needs ENVSYNC_HASH_KEY (16 characters or more) on the worker")
		}
		return set("encode(sha256(convert_to($1 || ':' || "+col+"::text, 'UTF8')), 'hex')", hashKey)
	case "lorem":
		return set("left(repeat('lorem ipsum dolor sit amet ', char_length(" + col + "::text) / 27 + 1), char_length(" + col + "::text))")
	case "redact":
		return set("regexp_replace("+col+", $1, '[redacted]', 'g')", r.Pattern)
	case "rewrite":
		return set("replace("+col+", $1, $2)", r.From, r.To)
	}
	return "", nil, fmt.Errorf("unknown transformer %q", r.Kind)
}
