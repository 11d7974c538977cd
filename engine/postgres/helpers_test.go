package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/internal/pgserver"
)

// createDB creates database name on srv and returns a connection to it,
// closed when the test ends.
func createDB(t *testing.T, srv *pgserver.Server, name string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	admin, err := srv.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Connect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
