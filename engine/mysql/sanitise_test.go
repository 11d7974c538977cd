package mysql_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/mysql"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/engine/sanitise/sanitisetest"
	"github.com/envsync/envsync/internal/testenv"
)

// Fixed, rewrite and redact values that read like SQL, quotes, ?,
// backslashes (MariaDB's escape character) or LIKE wildcards reach the
// staging schema byte for byte through the stream: decoded from
// mysqldump's escapes, transformed in Go, and escaped again.
func TestPlanWritesValuesVerbatim(t *testing.T) {
	s := testenv.StartMariaDB(t)
	ctx := context.Background()
	const staging = "shop" + engine.StagingMarker + "1"
	exec(t, open(t, s, ""), "CREATE DATABASE shop_src CHARACTER SET utf8mb4")
	src := open(t, s, "shop_src")
	cols := sanitisetest.Columns()
	// users is the table the DROP TABLE value names; it must survive.
	exec(t, src, "CREATE TABLE users (id INT)",
		"CREATE TABLE "+sanitisetest.Table+" (id INT PRIMARY KEY, "+strings.Join(cols, " TEXT, ")+" TEXT)")
	insert := "INSERT INTO " + sanitisetest.Table + " VALUES (?" + strings.Repeat(", ?", len(cols)) + ")"
	for i, row := range sanitisetest.Before() {
		args := []any{i}
		for _, v := range row {
			args = append(args, v)
		}
		if _, err := src.Exec(insert, args...); err != nil {
			t.Fatal(err)
		}
	}

	var data bytes.Buffer
	if _, err := mysql.New(engine.Target{Database: "shop_src", Host: s.Host, Port: s.Port}, nil, mysql.Options{}).Dump(ctx, &data); err != nil {
		t.Fatal(err)
	}
	rules := sanitisetest.Rules(t, "tables")
	rules.Unlisted = sanitise.UnlistedKeep // id, and table users
	p, err := sanitise.NewPlan(rules, "a-test-key-of-some-length", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := mysql.New(engine.Target{Database: "shop", Host: s.Host, Port: s.Port}, nil, mysql.Options{})
	if _, err := e.RestorePlan(ctx, &data, staging, dump.Origin{}, p); err != nil {
		t.Fatal(err)
	}
	conn := open(t, s, staging)

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
