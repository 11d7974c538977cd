package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/envsync/envsync/engine"
)

var _ engine.Prober = (*Engine)(nil)

// Probe runs a drill's check in the staging schema, read-only: a check
// cannot change the copy it proves, and its rows are only counted.
func (e *Engine) Probe(ctx context.Context, staging, query string) (bool, error) {
	if err := engine.CheckStaging("mysql", staging); err != nil {
		return false, err
	}
	db, err := e.connect(ctx, staging)
	if err != nil {
		return false, err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return false, fmt.Errorf("mysql: begin a read-only transaction in %s: %w", staging, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query)
	found := false
	if err == nil {
		found = rows.Next()
		rows.Close()
		err = rows.Err()
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		// The check itself is wrong (or the copy lacks what it names):
		// running it again gives the same answer.
		return false, engine.Permanent(fmt.Errorf("mysql: %s", engine.Redact(err.Error())))
	}
	return found, err
}
