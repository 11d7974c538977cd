package postgres

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

// Name is the dbms value of PostgreSQL tasks.
const Name = "postgresql"

func init() {
	engine.Register(engine.Info{
		Name:     Name,
		MaxName:  MaxName,
		Stores:   []string{"s3", "file", "rsync"},
		Fields:   []string{"restore_jobs"},
		Sanitise: []string{sanitise.OnPull, sanitise.BeforeUpload},
		Rules:    sanitise.KindSQL,
		Settings: []engine.Setting{{Flag: "pg-bindir", Env: "ENVSYNC_PG_BINDIR",
			Usage: "`directory` of pg_dump/pg_restore (default: matching the server's version)"},
			{Flag: "pg-copy-lanes", Env: "ENVSYNC_PG_COPY_LANES", Check: checkLanes,
				Usage: "`connections` a pull loads one large table over at once, 1-64; 1 leaves a pull without rules to pg_restore (default: this host's cores, at most 4)"}},
		New: func(s engine.Spec, w engine.Settings) (engine.Engine, error) {
			lanes, err := copyLanes(w.Values["pg-copy-lanes"])
			if err != nil {
				return nil, engine.Permanent(fmt.Errorf("--pg-copy-lanes %q: %w", w.Values["pg-copy-lanes"], err))
			}
			return New(s.Target, Options{BinDir: w.Values["pg-bindir"], Logger: w.Logger, DumpPriority: w.DumpPriority, Count: s.Count,
				CopyLanes: lanes}), nil
		},
	})
}

// copyLanes reads --pg-copy-lanes. By default a pull loads a large table
// over as many connections as this host has cores, up to 4: the server
// parses each COPY on one core, and the worker runs on the database's
// host. The cap of 4 is a guess, not measured (this machine has 2 cores):
// every lane still writes into the one WAL, and each takes a connection.
func copyLanes(v string) (int, error) {
	if v == "" {
		return min(runtime.NumCPU(), 4), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 64 {
		return 0, errors.New("want a number of connections, 1-64")
	}
	return n, nil
}

func checkLanes(v string) error {
	_, err := copyLanes(v)
	return err
}
