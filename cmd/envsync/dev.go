//go:build !lean

package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/devserver"
	"github.com/envsync/envsync/launch"
	"github.com/envsync/envsync/worker"
)

func devCommand(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	dir := fs.String("dir", ".envsync", "state `directory` (SQLite file, dumps, locks)")
	port := fs.Int("port", 7233, "gRPC `port`")
	uiPort := fs.Int("ui-port", 8233, "Web UI `port`")
	cfg, host := workerFlags(fs)
	mon := monitoringFlags(fs)
	return func(ctx context.Context, stdout, _ io.Writer) error {
		notifier, err := mon.activities()
		if err != nil {
			return err
		}
		srv, err := devserver.Start(devserver.Options{Dir: *dir, Port: *port, UIPort: *uiPort})
		if err != nil {
			return err
		}
		defer srv.Stop()
		c, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: launch.Logger()})
		if err != nil {
			return err
		}
		defer c.Close()
		if cfg.LockDir == activities.DefaultLockDir {
			cfg.LockDir = *dir + "/locks" // dev needs no root
		}
		fmt.Fprintf(stdout, "Temporal  %s (namespace %s)\nWeb UI    %s\nworker    central + host %s\nstate     %s\nexport TEMPORAL_ADDRESS=%s\n",
			srv.Address, srv.Namespace, srv.UIURL, *host, *dir, srv.Address)
		return worker.Run(ctx, c, worker.Options{Central: true, Host: *host, Activities: *cfg, Notify: notifier})
	}
}
