package postgres

import (
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
			Usage: "`directory` of pg_dump/pg_restore (default: matching the server's version)"}},
		New: func(s engine.Spec, w engine.Settings) (engine.Engine, error) {
			return New(s.Target, Options{BinDir: w.Values["pg-bindir"], Logger: w.Logger, DumpPriority: w.DumpPriority, Count: s.Count}), nil
		},
	})
}
