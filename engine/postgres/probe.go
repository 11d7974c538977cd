package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/envsync/envsync/engine"
)

var _ engine.Prober = (*Engine)(nil)

// Probe runs a drill's check in the staging copy, read-only: a check
// cannot change the copy it proves, and its rows are only counted.
func (e *Engine) Probe(ctx context.Context, staging, query string) (bool, error) {
	if err := engine.CheckStaging("postgresql", staging); err != nil {
		return false, err
	}
	conn, err := e.connect(ctx, staging)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return false, fmt.Errorf("postgresql: begin a read-only transaction in %s: %w", staging, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, query, pgx.QueryExecModeSimpleProtocol)
	found := false
	if err == nil {
		found = rows.Next()
		rows.Close()
		err = rows.Err()
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// The check itself is wrong (or the copy lacks what it names):
		// running it again gives the same answer.
		return false, engine.Permanent(fmt.Errorf("postgresql: %s", engine.Redact(err.Error())))
	}
	return found, err
}
