package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/internal/pgserver"
)

// adminConn connects to srv's maintenance database, closed when the test
// ends.
func adminConn(t *testing.T, srv *pgserver.Server) *pgx.Conn {
	t.Helper()
	admin, err := srv.Connect(context.Background(), "postgres")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return admin
}

// createDB creates database name on srv and returns a connection to it,
// closed when the test ends.
func createDB(t *testing.T, srv *pgserver.Server, name string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	if _, err := adminConn(t, srv).Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Connect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
