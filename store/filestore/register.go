package filestore

import (
	"context"
	"strings"

	"github.com/envsync/envsync/store"
)

func init() {
	store.Register(store.Info{
		Name: "file",
		// A push prunes its dumps here (retention).
		Fields: []string{"keep", "keep_days"},
		Check: func(url, _ string) (string, string, string) {
			if !strings.HasPrefix(url, "/") && !strings.HasPrefix(url, ".") {
				return "url", url, "must be an absolute directory (or start with ./) for the file store"
			}
			return "", "", ""
		},
		New: func(_ context.Context, s store.Spec) (store.Store, error) { return New(s.URL) },
	})
}
