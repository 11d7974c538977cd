package mongo

import (
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

func init() {
	engine.Register(engine.Info{
		Name: "mongo",
		// Amazon DocumentDB speaks the same protocol.
		Aliases:  []string{"documentdb"},
		MaxName:  MaxName,
		Stores:   []string{"s3", "file", "rsync"},
		Sanitise: []string{sanitise.OnPull},
		Rules:    sanitise.KindDocuments,
		New: func(s engine.Spec, w engine.Settings) (engine.Engine, error) {
			return New(s.Target, Options{Logger: w.Logger, Count: s.Count}), nil
		},
	})
}
