package rsyncstore

import (
	"context"
	"regexp"

	"github.com/envsync/envsync/store"
)

var targetRe = regexp.MustCompile(`^([A-Za-z0-9_.-]+@)?[A-Za-z0-9_.-]+(:[0-9]{1,5})?$`)

func init() {
	store.Register(store.Info{
		Name: "rsync",
		// A push prunes its dumps here (retention).
		Fields: []string{"keep", "keep_days"},
		Check: func(url, path string) (string, string, string) {
			switch {
			case !targetRe.MatchString(url):
				return "url", url, "must be [user@]host[:port] of the file server, user and host of ASCII letters A-Z a-z, digits 0-9, and _ . -"
			case path == "":
				return "path", path, "required for rsync: the directory on the file server"
			}
			return "", "", ""
		},
		New: func(_ context.Context, s store.Spec) (store.Store, error) {
			return New(Options{Target: s.URL, Identity: s.SSHIdentity, KnownHosts: s.SSHKnownHosts, BWLimit: s.UploadLimit})
		},
	})
}
