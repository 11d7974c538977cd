package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/engine/sqlrules"
)

var _ engine.Sanitiser = (*Engine)(nil)

// Sanitise applies rules to the staging database in one transaction: every
// table and column named is checked first (a rule for a missing one fails
// before any statement runs), then deletes, then one set-based UPDATE per
// rule, then the extra SQL, then the verify queries, which must find no
// rows.
func (e *Engine) Sanitise(ctx context.Context, staging string, rules *sanitise.Rules, hashKey string) (engine.SanitiseReport, error) {
	rep := engine.SanitiseReport{Rows: map[string]int64{}}
	if err := engine.CheckStaging("postgresql", staging); err != nil {
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
	stmts, err := sqlrules.Compile(sqlrules.PostgreSQL, rules.Tables)
	if err == nil {
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, s := range stmts {
				tag, err := tx.Exec(ctx, s.SQL)
				if err != nil {
					return fmt.Errorf("rule %s: %w", s, err)
				}
				rep.Rows[s.Rule] = tag.RowsAffected()
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
	}
	if err != nil {
		return rep, engine.Permanent(fmt.Errorf("postgresql: sanitise %s: %s", staging, engine.Redact(err.Error())))
	}
	return rep, nil
}

func checkColumns(ctx context.Context, conn *pgx.Conn, t sanitise.Target) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", sqlrules.PostgreSQL.Table(t.Name)).Scan(&exists); err != nil || !exists {
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
