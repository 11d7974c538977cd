package files

import (
	"strings"

	"github.com/envsync/envsync/engine"
)

func init() {
	engine.Register(engine.Info{
		Name:    "files",
		MaxName: MaxName,
		Stores:  []string{"s3", "file", "rsync"},
		Fields:  []string{"directory"},
		Check: func(s engine.Spec) []engine.Problem {
			switch d := s.Directory; {
			case d == "":
				return []engine.Problem{{Field: "directory", Reason: "required for dbms files: the absolute directory to archive or replace"}}
			case !strings.HasPrefix(d, "/") || d == "/" || strings.Contains(d, ".."):
				return []engine.Problem{{Field: "directory", Value: d, Reason: "must be an absolute directory other than /, without .."}}
			}
			return nil
		},
		New: func(s engine.Spec, _ engine.Settings) (engine.Engine, error) { return New(s.Directory), nil },
	})
}
