package mysql_test

import (
	"context"
	"strings"
	"testing"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/mysql"
	"github.com/envsync/envsync/engine/sanitise/sanitisetest"
	"github.com/envsync/envsync/internal/testenv"
)

// Fixed, rewrite and redact values that read like SQL, quotes, ?,
// backslashes (MariaDB's escape character) or LIKE wildcards reach the
// staging schema byte for byte: they are bound parameters, never part of
// the statement.
func TestSanitiseWritesValuesVerbatim(t *testing.T) {
	s := testenv.StartMariaDB(t)
	ctx := context.Background()
	const staging = "shop" + engine.StagingMarker + "1"
	exec(t, open(t, s, ""), "CREATE DATABASE "+staging+" CHARACTER SET utf8mb4")
	conn := open(t, s, staging)
	cols := sanitisetest.Columns()
	// users is the table the DROP TABLE value names; it must survive.
	exec(t, conn, "CREATE TABLE users (id INT)",
		"CREATE TABLE "+sanitisetest.Table+" (id INT PRIMARY KEY, "+strings.Join(cols, " TEXT, ")+" TEXT)")
	insert := "INSERT INTO " + sanitisetest.Table + " VALUES (?" + strings.Repeat(", ?", len(cols)) + ")"
	for i, row := range sanitisetest.Before() {
		args := []any{i}
		for _, v := range row {
			args = append(args, v)
		}
		if _, err := conn.Exec(insert, args...); err != nil {
			t.Fatal(err)
		}
	}

	e := mysql.New(engine.Target{Database: "shop", Host: s.Host, Port: s.Port}, nil, mysql.Options{})
	if _, err := e.Sanitise(ctx, staging, sanitisetest.Rules(t, "tables"), ""); err != nil {
		t.Fatal(err)
	}

	rows, err := conn.Query("SELECT " + strings.Join(cols, ", ") + " FROM " + sanitisetest.Table + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [][]string
	for rows.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		got = append(got, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sanitisetest.Compare(t, got)
	var users int
	if err := conn.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'users'", staging).Scan(&users); err != nil || users != 1 {
		t.Errorf("table users is gone (%v)", err)
	}
}
