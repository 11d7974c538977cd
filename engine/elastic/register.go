package elastic

import (
	"regexp"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/store"
)

// SnapshotStore is the native store: the cluster's snapshot repository.
const SnapshotStore = "es_snapshot"

var repoRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func init() {
	engine.Register(engine.Info{
		Name:    "elasticsearch",
		MaxName: MaxName,
		Stores:  []string{SnapshotStore, "s3", "file", "rsync"},
		Fields:  []string{"indices"},
		Native:  SnapshotStore,
		// Indices are the rule set's collections, sanitised as their
		// documents stream in (not in a snapshot repository, whose
		// restores never pass through envsync).
		Sanitise: []string{sanitise.OnPull},
		Rules:    sanitise.KindDocuments,
		New: func(s engine.Spec, w engine.Settings) (engine.Engine, error) {
			return New(s.Target, s.Indices, Options{Logger: w.Logger, Count: s.Count})
		},
	})
	store.Register(store.Info{
		Name: SnapshotStore,
		// The original called it by the engine's name.
		Aliases: []string{"elasticsearch"},
		Native:  true,
		Fields:  []string{"keep"},
		Check: func(url, _ string) (string, string, string) {
			if !repoRe.MatchString(url) {
				return "url", url, "must be the snapshot repository's name: lower-case ASCII letters a-z, digits 0-9, _ and -, starting with a letter or digit"
			}
			return "", "", ""
		},
	})
}
