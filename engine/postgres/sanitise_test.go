package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/postgres"
	"github.com/envsync/envsync/engine/sanitise/sanitisetest"
	"github.com/envsync/envsync/internal/testenv"
)

// Fixed, rewrite and redact values that read like SQL, quotes, $1,
// backslashes or LIKE wildcards reach the staging copy byte for byte: they
// are bound parameters, never part of the statement.
func TestSanitiseWritesValuesVerbatim(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	const staging = "shop" + engine.StagingMarker + "1"
	conn := createDB(t, srv, staging)
	cols := sanitisetest.Columns()
	// users is the table the DROP TABLE value names; it must survive.
	if _, err := conn.Exec(ctx, "CREATE TABLE users (id int); CREATE TABLE "+sanitisetest.Table+
		" (id int PRIMARY KEY, "+strings.Join(cols, " text, ")+" text)"); err != nil {
		t.Fatal(err)
	}
	params := make([]string, len(cols)+1)
	for i := range params {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	insert := "INSERT INTO " + sanitisetest.Table + " VALUES (" + strings.Join(params, ", ") + ")"
	for i, row := range sanitisetest.Before() {
		args := []any{i}
		for _, v := range row {
			args = append(args, v)
		}
		if _, err := conn.Exec(ctx, insert, args...); err != nil {
			t.Fatal(err)
		}
	}

	e := postgres.New(engine.Target{Database: "shop", Host: srv.Host, Port: srv.Port}, postgres.Options{})
	if _, err := e.Sanitise(ctx, staging, sanitisetest.Rules(t, "tables"), ""); err != nil {
		t.Fatal(err)
	}

	rows, err := conn.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+sanitisetest.Table+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		return vals, r.Scan(ptrs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	sanitisetest.Compare(t, got)
	var users bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('users') IS NOT NULL").Scan(&users); err != nil || !users {
		t.Errorf("table users is gone (%v)", err)
	}
}
