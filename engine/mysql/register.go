package mysql

import (
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

func init() {
	engine.Register(engine.Info{
		Name:     "mysql",
		MaxName:  MaxName,
		Stores:   []string{"s3", "file", "rsync"},
		Fields:   []string{"excluded_tables"},
		Sanitise: []string{sanitise.OnPull, sanitise.BeforeUpload},
		Rules:    sanitise.KindSQL,
		New: func(s engine.Spec, w engine.Settings) (engine.Engine, error) {
			return New(s.Target, s.ExcludedTables, Options{Logger: w.Logger, DumpPriority: w.DumpPriority, Count: s.Count}), nil
		},
	})
}
