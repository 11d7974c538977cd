package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/envsync/envsync/engine"
)

// stash keeps the staging schema's view, routine, event and trigger
// definitions while the swap runs: a table with triggers cannot move between
// schemas, so triggers are dropped before the RENAME and recreated after it;
// views must be read while their tables are still beside them; and a retried
// swap must still find all of them.
const stash = "_envsync_swap_triggers"

func oldName(staging string) string { return engine.StagingName(staging, "old", MaxName) }

// Swap makes the staging schema's tables live in one atomic RENAME TABLE
// (readers see the old tables or the new ones), labels the live schema, then
// replaces views, routines, events and triggers and drops the old tables.
// A retry after the RENAME (the label says so) only redoes the second part.
func (e *Engine) Swap(ctx context.Context, staging, label string) error {
	admin, err := e.adminFor(ctx, staging)
	if err != nil {
		return err
	}
	defer admin.Close()
	liveExists, comment, err := schemaExists(ctx, admin, e.t.Database)
	if err != nil {
		return err
	}
	stExists, _, err := schemaExists(ctx, admin, staging)
	if err != nil {
		return err
	}
	if liveExists && comment == label && !stExists {
		return nil // an earlier attempt finished
	}
	if !liveExists || comment != label {
		if !stExists {
			return engine.Permanent(fmt.Errorf("mysql: staging schema %s is gone and %s was not restored by this run; start the pull again", staging, e.t.Database))
		}
		if err := e.moveTables(ctx, admin, staging, label, liveExists); err != nil {
			return err
		}
	}
	if err := e.recreate(ctx, staging); err != nil {
		return fmt.Errorf("mysql: the new tables of %s are live, but recreating views, routines, events and triggers failed: %w", e.t.Database, err)
	}
	for _, s := range []string{oldName(staging), staging} {
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident(s)); err != nil {
			return fmt.Errorf("mysql: the new %s is live, but dropping %s failed: %w; drop it by hand", e.t.Database, s, err)
		}
	}
	return nil
}

type object struct {
	kind, name, mode, sql string
}

// definitions reads the CREATE statements of every object of one kind in
// schema, through conn whose default schema it is (so names come back
// unqualified and can be created in another schema).
func definitions(ctx context.Context, conn *sql.DB, schema, kind string) ([]object, error) {
	var list, show string
	var col, modeCol int
	switch kind {
	case "VIEW":
		list, show, col, modeCol = `SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?`, "SHOW CREATE VIEW ", 1, -1
	case "TRIGGER":
		list, show, col, modeCol = `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY ACTION_ORDER`, "SHOW CREATE TRIGGER ", 2, 1
	case "PROCEDURE", "FUNCTION":
		list, show, col, modeCol = `SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = '`+kind+`'`, "SHOW CREATE "+kind+" ", 2, 1
	case "EVENT":
		list, show, col, modeCol = `SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?`, "SHOW CREATE EVENT ", 3, 1
	}
	rows, err := conn.QueryContext(ctx, list, schema)
	if err != nil {
		return nil, fmt.Errorf("list %ss of %s: %w", strings.ToLower(kind), schema, err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	var out []object
	for _, n := range names {
		r, err := conn.QueryContext(ctx, show+ident(n))
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", show, n, err)
		}
		cols, _ := r.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if !r.Next() {
			r.Close()
			return nil, fmt.Errorf("%s%s returned nothing", show, n)
		}
		err = r.Scan(ptrs...)
		r.Close()
		if err != nil {
			return nil, err
		}
		o := object{kind: kind, name: n, sql: vals[col].String}
		if modeCol >= 0 {
			o.mode = vals[modeCol].String
		}
		out = append(out, o)
	}
	return out, nil
}

func baseTables(ctx context.Context, conn *sql.DB, schema string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') AND TABLE_NAME <> ?`, schema, stash)
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", schema, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func create(ctx context.Context, conn *sql.DB, o object) error {
	if o.mode != "" {
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = ?", o.mode); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, o.sql); err != nil {
		return fmt.Errorf("create %s %s: %w", strings.ToLower(o.kind), o.name, err)
	}
	return nil
}

// moveTables stashes and drops the staging triggers, drops the live ones,
// and moves all tables in one RENAME TABLE: live ones aside into the old
// schema, staging ones into the live schema.
func (e *Engine) moveTables(ctx context.Context, admin *sql.DB, staging, label string, liveExists bool) error {
	st, err := e.connect(ctx, staging)
	if err != nil {
		return err
	}
	defer st.Close()
	var stashed int
	if err := admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
		staging, stash).Scan(&stashed); err != nil {
		return fmt.Errorf("mysql: %w", err)
	}
	if stashed == 0 {
		// Read every definition while the staging tables are still there: a
		// view whose tables moved away shows its text qualified with the
		// staging schema's name.
		if _, err := st.ExecContext(ctx, "CREATE TABLE "+ident(stash)+
			" (seq INT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(16), name VARCHAR(64), mode TEXT, body LONGTEXT, UNIQUE (kind, name))"); err != nil {
			return fmt.Errorf("mysql: create %s in %s: %w", stash, staging, err)
		}
		for _, kind := range []string{"PROCEDURE", "FUNCTION", "VIEW", "EVENT", "TRIGGER"} {
			objs, err := definitions(ctx, st, staging, kind)
			if err != nil {
				return fmt.Errorf("mysql: %w", err)
			}
			for _, o := range objs {
				if _, err := st.ExecContext(ctx, "INSERT INTO "+ident(stash)+" (kind, name, mode, body) VALUES (?, ?, ?, ?)", o.kind, o.name, o.mode, o.sql); err != nil {
					return fmt.Errorf("mysql: stash %s %s: %w", strings.ToLower(o.kind), o.name, err)
				}
			}
		}
	}
	triggers, err := definitions(ctx, st, staging, "TRIGGER")
	if err != nil {
		return fmt.Errorf("mysql: %w", err)
	}
	for _, tr := range triggers {
		if _, err := st.ExecContext(ctx, "DROP TRIGGER "+ident(tr.name)); err != nil {
			return fmt.Errorf("mysql: drop staging trigger %s: %w", tr.name, err)
		}
	}
	newTables, err := baseTables(ctx, admin, staging)
	if err != nil {
		return fmt.Errorf("mysql: %w", err)
	}
	if stashed == 1 && len(newTables) == 0 {
		return nil // an earlier attempt already moved the tables (no schema comment to say so on MySQL)
	}

	old := oldName(staging)
	var liveTriggers []object
	var live *sql.DB
	var oldTables []string
	if liveExists {
		if live, err = e.connect(ctx, e.t.Database); err != nil {
			return err
		}
		defer live.Close()
		if liveTriggers, err = definitions(ctx, live, e.t.Database, "TRIGGER"); err != nil {
			return fmt.Errorf("mysql: %w", err)
		}
		if oldTables, err = baseTables(ctx, admin, e.t.Database); err != nil {
			return fmt.Errorf("mysql: %w", err)
		}
		// A live view named like a new table would block the rename.
		views, err := definitions(ctx, live, e.t.Database, "VIEW")
		if err != nil {
			return fmt.Errorf("mysql: %w", err)
		}
		for _, v := range views {
			for _, t := range newTables {
				if strings.EqualFold(v.name, t) {
					if _, err := live.ExecContext(ctx, "DROP VIEW "+ident(v.name)); err != nil {
						return fmt.Errorf("mysql: drop view %s: %w", v.name, err)
					}
				}
			}
		}
		for _, tr := range liveTriggers {
			if _, err := live.ExecContext(ctx, "DROP TRIGGER "+ident(tr.name)); err != nil {
				return fmt.Errorf("mysql: drop live trigger %s: %w", tr.name, err)
			}
		}
	} else {
		cs, err := charset(ctx, admin, staging)
		if err != nil {
			return fmt.Errorf("mysql: read staging character set: %w", err)
		}
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+ident(e.t.Database)+cs); err != nil {
			return fmt.Errorf("mysql: create schema %s: %w", e.t.Database, err)
		}
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+ident(old)); err != nil {
		return fmt.Errorf("mysql: create %s: %w", old, err)
	}
	var pairs []string
	for _, t := range oldTables {
		pairs = append(pairs, ident(e.t.Database)+"."+ident(t)+" TO "+ident(old)+"."+ident(t))
	}
	for _, t := range newTables {
		pairs = append(pairs, ident(staging)+"."+ident(t)+" TO "+ident(e.t.Database)+"."+ident(t))
	}
	if len(pairs) > 0 {
		if _, err := admin.ExecContext(ctx, "RENAME TABLE "+strings.Join(pairs, ", ")); err != nil {
			for _, tr := range liveTriggers { // put the live schema back as it was
				if cerr := create(context.WithoutCancel(ctx), live, tr); cerr != nil {
					e.opts.Logger.Error("could not restore a live trigger after a failed swap", "trigger", tr.name, "error", cerr)
				}
			}
			return fmt.Errorf("mysql: swap %s into %s: RENAME TABLE failed: %w; the live schema is unchanged", staging, e.t.Database, err)
		}
	}
	// MariaDB keeps schema comments; on MySQL a retry recognises the move
	// by the stash left in an empty staging schema.
	if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+ident(e.t.Database)+" COMMENT = "+literal(label)); err != nil {
		e.opts.Logger.Info("schema comment not supported; swap label not recorded", "error", err)
	}
	return nil
}

// recreate replaces the live schema's views, routines, events and
// triggers with the staging schema's.
func (e *Engine) recreate(ctx context.Context, staging string) error {
	live, err := e.connect(ctx, e.t.Database)
	if err != nil {
		return err
	}
	defer live.Close()
	st, err := e.connect(ctx, staging)
	if err != nil {
		return err
	}
	defer st.Close()

	for _, kind := range []string{"VIEW", "PROCEDURE", "FUNCTION", "EVENT", "TRIGGER"} {
		current, err := definitions(ctx, live, e.t.Database, kind)
		if err != nil {
			return err
		}
		for _, o := range current {
			if _, err := live.ExecContext(ctx, "DROP "+kind+" IF EXISTS "+ident(o.name)); err != nil {
				return fmt.Errorf("drop %s %s: %w", strings.ToLower(kind), o.name, err)
			}
		}
	}
	var pending []object
	rows, err := st.QueryContext(ctx, "SELECT kind, name, mode, body FROM "+ident(stash)+" ORDER BY seq")
	if err != nil {
		return fmt.Errorf("read the definitions stashed in %s: %w", staging, err)
	}
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.kind, &o.name, &o.mode, &o.sql); err != nil {
			rows.Close()
			return err
		}
		pending = append(pending, o)
	}
	rows.Close()
	// Views may use views: create what can be created, then retry the rest
	// until a pass makes no progress.
	for len(pending) > 0 {
		var left []object
		var lastErr error
		for _, o := range pending {
			if err := create(ctx, live, o); err != nil {
				left, lastErr = append(left, o), err
			}
		}
		if len(left) == len(pending) {
			return lastErr
		}
		pending = left
	}
	return nil
}
