//go:build !lean

package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/starter"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/devserver"
	"github.com/envsync/envsync/temporalconn"
	"github.com/envsync/envsync/worker"
)

func devCommand(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	dir := fs.String("dir", ".envsync", "state `directory` (SQLite file, dumps, locks)")
	port := fs.Int("port", 7233, "gRPC `port`")
	uiPort := fs.Int("ui-port", 8233, "Web UI `port`")
	tlsOn := fs.Bool("tls", false, "serve Temporal over TLS and require client certificates (mTLS), with a CA, server and client certificate made in DIR/tls; the Web UI stays plain HTTP on 127.0.0.1 and reaches Temporal with the client certificate")
	cfg, host := workerFlags(fs)
	mon := monitoringFlags(fs)
	return func(ctx context.Context, stdout, _ io.Writer) error {
		if err := engine.CheckSettings(cfg.Engines); err != nil {
			return &starter.InputError{Err: err}
		}
		notifier, err := mon.activities()
		if err != nil {
			return err
		}
		srv, err := devserver.Start(devserver.Options{Dir: *dir, Port: *port, UIPort: *uiPort, TLS: *tlsOn})
		if err != nil {
			return err
		}
		defer srv.Stop()
		// This process's worker connects as any client would: with the
		// settings printed below, and only those.
		env := clientEnv(srv)
		conn, err := temporalconn.Load(temporalconn.Request{Env: env})
		if err != nil {
			return err
		}
		c, err := conn.Dial(ctx, starter.Logger(), nil)
		if err != nil {
			return err
		}
		defer c.Close()
		if cfg.LockDir == activities.DefaultLockDir {
			cfg.LockDir = *dir + "/locks" // dev needs no root
		}
		fmt.Fprintf(stdout, "Temporal  %s\nWeb UI    %s\nworker    central + host %s\nstate     %s\n", conn, srv.UIURL, *host, *dir)
		for _, k := range slices.Sorted(maps.Keys(env)) {
			if k != "TEMPORAL_CONFIG_FILE" {
				fmt.Fprintf(stdout, "export %s=%s\n", k, env[k])
			}
		}
		return worker.Run(ctx, c, worker.Options{Central: true, Host: *host, Activities: *cfg, Notify: notifier})
	}
}

// clientEnv is what a client of srv sets: the variables dev prints. No
// profile file is read, so one in the user's home cannot redirect dev's
// own worker.
func clientEnv(srv *devserver.Server) temporalconn.MapEnv {
	env := temporalconn.MapEnv{"TEMPORAL_ADDRESS": srv.Address, "TEMPORAL_NAMESPACE": srv.Namespace,
		"TEMPORAL_CONFIG_FILE": os.DevNull}
	if c := srv.Certs; c != nil {
		env["TEMPORAL_TLS_SERVER_CA_CERT_PATH"] = c.CA
		env["TEMPORAL_TLS_CLIENT_CERT_PATH"] = c.ClientCert
		env["TEMPORAL_TLS_CLIENT_KEY_PATH"] = c.ClientKey
	}
	return env
}
