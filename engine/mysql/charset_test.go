package mysql_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/mysql"
	"github.com/envsync/envsync/internal/testenv"
)

// Views, routines, triggers and events come back under the character set,
// collation, SQL mode and time zone they were created under, as `mysql <
// dump` would recreate them: the collation of a routine decides how its
// string comparisons behave. They used to come back under envsync's own
// connection's utf8mb4.
func TestStoredProgramsKeepTheirCharacterSets(t *testing.T) {
	s := testenv.StartMariaDB(t)
	ctx := context.Background()
	admin := open(t, s, "")
	exec(t, admin, "CREATE DATABASE cs CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	db := open(t, s, "cs")
	conn, err := db.Conn(ctx) // one session: SET NAMES must stick
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, stmt := range []string{
		"CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(50)) CHARACTER SET utf8mb4",
		"INSERT INTO people VALUES (1, 'Zoë'), (2, 'zoe')",
		"CREATE TABLE log (what VARCHAR(100))",

		"SET NAMES utf8mb3 COLLATE utf8mb3_unicode_ci",
		"SET SESSION sql_mode = 'STRICT_TRANS_TABLES'",
		"CREATE VIEW v_mb3 AS SELECT id, name = 'zoe' AS is_zoe FROM people",
		"CREATE FUNCTION same_mb3() RETURNS INT DETERMINISTIC RETURN 'Zoe' = 'zoe'",
		"CREATE PROCEDURE note_mb3(w VARCHAR(20)) INSERT INTO log VALUES (CONCAT('mb3 ', w))",
		"CREATE TRIGGER people_mb3 AFTER INSERT ON people FOR EACH ROW INSERT INTO log VALUES (CONCAT('added ', NEW.name))",

		"SET NAMES latin1 COLLATE latin1_german1_ci",
		"SET SESSION sql_mode = 'ANSI_QUOTES,NO_ENGINE_SUBSTITUTION'",
		"CREATE VIEW v_latin AS SELECT id, name AS \"who\" FROM people WHERE name <> 'café'",
		"CREATE FUNCTION same_latin() RETURNS INT DETERMINISTIC RETURN 'Zoe' = 'zoe'",
		"SET SESSION time_zone = '+02:00'",
		"CREATE EVENT tidy_latin ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00' DISABLE DO DELETE FROM log WHERE what = 'café'",

		"SET NAMES utf8mb4 COLLATE utf8mb4_bin",
		"SET SESSION sql_mode = ''",
		"SET SESSION time_zone = 'SYSTEM'",
		"CREATE VIEW v_bin AS SELECT id FROM people WHERE name = 'Zoë'",
		"CREATE FUNCTION same_bin() RETURNS INT DETERMINISTIC RETURN 'Zoe' = 'zoe'",
		// A routine created while the schema had another default collation
		// keeps that as its database collation.
		"ALTER DATABASE cs CHARACTER SET latin1 COLLATE latin1_swedish_ci",
		"CREATE PROCEDURE note_swedish(w VARCHAR(20)) INSERT INTO log VALUES (w)",
		"ALTER DATABASE cs CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}

	target := engine.Target{Host: s.Host, Port: s.Port, Database: "cs"}
	var dumped bytes.Buffer
	info, err := mysql.New(target, nil, mysql.Options{}).Dump(ctx, &dumped)
	if err != nil {
		t.Fatal(err)
	}
	target.Database = "cs_copy"
	e := mysql.New(target, nil, mysql.Options{})
	if _, err := e.Restore(ctx, bytes.NewReader(dumped.Bytes()), "cs_copy_envsync_1", info.Origin); err != nil {
		t.Fatal(err)
	}
	if err := e.Swap(ctx, "cs_copy_envsync_1", "envsync: restored k by run r"); err != nil {
		t.Fatal(err)
	}

	want, got := programs(t, open(t, s, "cs"), "cs"), programs(t, open(t, s, "cs_copy"), "cs_copy")
	// 10 objects; information_schema.ROUTINES names the 5 routines again.
	if len(want) != 15 {
		t.Fatalf("the source describes %d objects, want 15: %v", len(want), want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s\n source: %s\n copy:   %s", k, v, got[k])
		}
	}
	// The routines compare strings as their collations say, on both
	// sides (utf8mb4_bin tells case apart, the others do not).
	src, cp := open(t, s, "cs"), open(t, s, "cs_copy")
	for fn, want := range map[string]int{"same_mb3": 1, "same_latin": 1, "same_bin": 0} {
		var a, b int
		if err := src.QueryRow("SELECT " + fn + "()").Scan(&a); err != nil || a != want {
			t.Fatalf("source %s() = %d (%v); want %d", fn, a, err, want)
		}
		if err := cp.QueryRow("SELECT " + fn + "()").Scan(&b); err != nil || b != a {
			t.Errorf("copy's %s() = %d (%v); the source's says %d", fn, b, err, a)
		}
	}
	// The restore made the routine's collation of the time on its own
	// staging schema, not on the source's name (mysqldump names it).
	var coll string
	if err := src.QueryRow("SELECT @@collation_database").Scan(&coll); err != nil || coll != "utf8mb4_unicode_ci" {
		t.Errorf("the source schema's collation is now %q (%v)", coll, err)
	}
}

// programs is what SHOW CREATE and information_schema say of every view,
// routine, trigger and event of schema: definitions (with the schema's own
// name taken out) and the settings they were created under.
func programs(t *testing.T, c *sql.DB, schema string) map[string]string {
	t.Helper()
	out := map[string]string{}
	scan := func(key, show string, skip ...string) {
		rows, err := c.Query(show)
		if err != nil {
			t.Fatalf("%s: %v", show, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, col := range cols {
				if !slices.Contains(skip, col) {
					fmt.Fprintf(&b, "%s=%q ", col, strings.ReplaceAll(vals[i].String, "`"+schema+"`", "`SCHEMA`"))
				}
			}
			out[key+" "+vals[0].String] += b.String()
		}
	}
	for _, q := range []struct{ kind, list string }{
		{"VIEW", "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?"},
		{"FUNCTION", "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'FUNCTION'"},
		{"PROCEDURE", "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'PROCEDURE'"},
		{"TRIGGER", "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?"},
		{"EVENT", "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?"},
	} {
		rows, err := c.Query(q.list, schema)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			names = append(names, n)
		}
		rows.Close()
		for _, n := range names {
			scan(q.kind, "SHOW CREATE "+q.kind+" `"+n+"`", "Created")
		}
	}
	scan("VIEW", "SELECT TABLE_NAME, VIEW_DEFINITION, CHARACTER_SET_CLIENT, COLLATION_CONNECTION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '"+schema+"'")
	scan("ROUTINE", "SELECT ROUTINE_NAME, ROUTINE_DEFINITION, SQL_MODE, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '"+schema+"'")
	scan("TRIGGER", "SELECT TRIGGER_NAME, ACTION_STATEMENT, SQL_MODE, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '"+schema+"'")
	scan("EVENT", "SELECT EVENT_NAME, EVENT_DEFINITION, SQL_MODE, TIME_ZONE, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '"+schema+"'")
	return out
}
