package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
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

// object is a view, routine, event or trigger as SHOW CREATE gives it, with
// the settings it was created under: mysqldump writes them around each
// object, and recreating it under others changes it (the collation of a
// routine decides how its string comparisons behave).
type object struct {
	kind, name string
	// body is the CREATE statement's bytes as the server stored them,
	// read with character_set_results = binary as mysqldump reads them,
	// so it is sent back under the character set it was written in.
	body []byte
	// mode is the sql_mode (views have none: hasMode false), zone the
	// time_zone of an event; client and collation the
	// character_set_client and collation_connection; dbCollation the
	// schema's default collation when a routine, event or trigger was
	// created.
	mode, zone, client, collation, dbCollation string
	hasMode                                    bool
}

// showColumns are the columns of SHOW CREATE <kind> an object is read from.
var showColumns = map[string][]string{
	"body":        {"Create View", "Create Procedure", "Create Function", "Create Event", "SQL Original Statement"},
	"mode":        {"sql_mode"},
	"zone":        {"time_zone"},
	"client":      {"character_set_client"},
	"collation":   {"collation_connection"},
	"dbCollation": {"Database Collation"},
}

// definitions reads the CREATE statements of every object of one kind in
// schema, through conn whose default schema it is (so names come back
// unqualified and can be created in another schema).
func definitions(ctx context.Context, conn *sql.DB, schema, kind string) ([]object, error) {
	var list string
	switch kind {
	case "VIEW":
		list = `SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?`
	case "TRIGGER":
		list = `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY ACTION_ORDER`
	case "PROCEDURE", "FUNCTION":
		list = `SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = '` + kind + `'`
	case "EVENT":
		list = `SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?`
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
	if len(names) == 0 {
		return nil, nil
	}
	// The statements as stored, in the character set they were written
	// in, not converted to this connection's.
	if _, err := conn.ExecContext(ctx, "SET SESSION character_set_results = binary"); err != nil {
		return nil, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SET SESSION character_set_results = utf8mb4")
	var out []object
	for _, n := range names {
		o, err := showCreate(ctx, conn, kind, n)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// showCreate reads one object with SHOW CREATE, its columns found by name.
func showCreate(ctx context.Context, conn *sql.DB, kind, name string) (object, error) {
	show := "SHOW CREATE " + kind + " " + ident(name)
	r, err := conn.QueryContext(ctx, show)
	if err != nil {
		return object{}, fmt.Errorf("%s: %w", show, err)
	}
	defer r.Close()
	cols, _ := r.Columns()
	vals := make([][]byte, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !r.Next() {
		return object{}, fmt.Errorf("%s returned nothing", show)
	}
	if err := r.Scan(ptrs...); err != nil {
		return object{}, err
	}
	o := object{kind: kind, name: name}
	fields := map[string]*string{"mode": &o.mode, "zone": &o.zone, "client": &o.client, "collation": &o.collation, "dbCollation": &o.dbCollation}
	for i, c := range cols {
		for field, names := range showColumns {
			if !slices.Contains(names, c) {
				continue
			}
			if field == "body" {
				o.body = slices.Clone(vals[i])
			} else {
				*fields[field] = string(vals[i])
				o.hasMode = o.hasMode || field == "mode"
			}
		}
	}
	if len(o.body) == 0 {
		return object{}, fmt.Errorf("%s: no CREATE statement among its columns %v", show, cols)
	}
	return o, nil
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

// create makes o in conn's schema under the settings it was created
// under, as mysqldump's output does: sql_mode, time_zone, the client
// character set and collation, and for a stored program the schema's
// default collation of the time (schemaCollation is the schema's own; it
// is changed for the statement and put back). The session's character
// set is put back after, whatever happens: later statements are sent as
// utf8mb4.
func create(ctx context.Context, conn *sql.DB, o object, schemaCollation string) error {
	var set []string
	var args []any
	if o.hasMode {
		set, args = append(set, "sql_mode = ?"), append(args, o.mode)
	}
	if o.zone != "" {
		set, args = append(set, "time_zone = ?"), append(args, o.zone)
	}
	if len(set) > 0 {
		if _, err := conn.ExecContext(ctx, "SET SESSION "+strings.Join(set, ", "), args...); err != nil {
			return fmt.Errorf("create %s %s: set its sql_mode and time_zone: %w", strings.ToLower(o.kind), o.name, err)
		}
	}
	if o.dbCollation != "" && schemaCollation != "" && o.dbCollation != schemaCollation {
		if _, err := conn.ExecContext(ctx, "ALTER DATABASE COLLATE "+literal(o.dbCollation)); err != nil {
			return fmt.Errorf("create %s %s: set the schema's collation of the time, %s: %w", strings.ToLower(o.kind), o.name, o.dbCollation, err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "ALTER DATABASE COLLATE "+literal(schemaCollation))
	}
	if o.client != "" {
		// Values of names the server itself returned: sent as literals,
		// since a prepared SET of a character set is refused.
		names := "SET character_set_client = " + literal(o.client) + ", character_set_results = " + literal(o.client)
		if o.collation != "" {
			names += ", collation_connection = " + literal(o.collation)
		}
		if _, err := conn.ExecContext(ctx, names); err != nil {
			return fmt.Errorf("create %s %s: set its character set %s: %w", strings.ToLower(o.kind), o.name, o.client, err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SET NAMES utf8mb4")
	}
	if _, err := conn.ExecContext(ctx, string(o.body)); err != nil {
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
			" (seq INT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(16), name VARCHAR(64), body LONGBLOB, has_mode BOOL, mode TEXT,"+
			" zone VARCHAR(64), client VARCHAR(64), coll VARCHAR(64), db_coll VARCHAR(64), UNIQUE (kind, name))"); err != nil {
			return fmt.Errorf("mysql: create %s in %s: %w", stash, staging, err)
		}
		for _, kind := range []string{"PROCEDURE", "FUNCTION", "VIEW", "EVENT", "TRIGGER"} {
			objs, err := definitions(ctx, st, staging, kind)
			if err != nil {
				return fmt.Errorf("mysql: %w", err)
			}
			for _, o := range objs {
				if _, err := st.ExecContext(ctx, "INSERT INTO "+ident(stash)+" (kind, name, body, has_mode, mode, zone, client, coll, db_coll) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
					o.kind, o.name, o.body, o.hasMode, o.mode, o.zone, o.client, o.collation, o.dbCollation); err != nil {
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
				if cerr := create(context.WithoutCancel(ctx), live, tr, ""); cerr != nil {
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
	rows, err := st.QueryContext(ctx, "SELECT kind, name, body, has_mode, mode, zone, client, coll, db_coll FROM "+ident(stash)+" ORDER BY seq")
	if err != nil {
		return fmt.Errorf("read the definitions stashed in %s: %w", staging, err)
	}
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.kind, &o.name, &o.body, &o.hasMode, &o.mode, &o.zone, &o.client, &o.collation, &o.dbCollation); err != nil {
			rows.Close()
			return err
		}
		pending = append(pending, o)
	}
	rows.Close()
	var schemaCollation string
	if err := live.QueryRowContext(ctx, "SELECT @@collation_database").Scan(&schemaCollation); err != nil {
		return fmt.Errorf("read the collation of %s: %w", e.t.Database, err)
	}
	// Views may use views: create what can be created, then retry the rest
	// until a pass makes no progress.
	for len(pending) > 0 {
		var left []object
		var lastErr error
		for _, o := range pending {
			if err := create(ctx, live, o, schemaCollation); err != nil {
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
