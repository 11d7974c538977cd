//go:build !lean

package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/envsync/envsync/demo"
)

func demoCommand(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var o demo.Options
	fs.StringVar(&o.Dir, "dir", ".envsync", "state `directory` (SQLite file, dumps, locks)")
	fs.BoolVar(&o.Keep, "keep", false, "keep Temporal and its Web UI running after the demo, until Ctrl-C")
	fs.StringVar(&o.Postgres, "postgres", os.Getenv("ENVSYNC_DEMO_POSTGRES"), "`host:port` of a PostgreSQL server to use (credentials from PGUSER/PGPASSFILE); empty starts a throwaway one")
	return func(ctx context.Context, stdout, _ io.Writer) error {
		o.Out = stdout
		return demo.Run(ctx, o)
	}
}
