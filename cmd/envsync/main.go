// Command envsync pushes and pulls databases between environments through
// Temporal. Subcommands only; the work is in the packages they call.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.temporal.io/sdk/client"
	"golang.org/x/term"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/buildinfo"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/demo"
	"github.com/envsync/envsync/devserver"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/failure"
	"github.com/envsync/envsync/launch"
	"github.com/envsync/envsync/notify"
	"github.com/envsync/envsync/schedules"
	"github.com/envsync/envsync/searchattr"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
)

const usage = `envsync: durable database push/pull between environments, on Temporal

  envsync demo    [--dir .envsync] [--keep]      push a sample PostgreSQL database and pull it into a second one
  envsync dev     [--dir .envsync] [--port 7233] [--ui-port 8233] [--host NAME]
                                                 embedded Temporal (SQLite) + Web UI + a worker
  envsync worker  [--central] [--host NAME] [--lock-dir DIR] [--temp-dir DIR] [--s3-endpoint URL] [--hooks-dir DIR]
                  [--icinga-url URL --icinga-ca FILE --icinga-password-file FILE | --nsca-server HOST]
  envsync push    [-f file.cfg | --tasks tasks.yaml --task NAME] [-D dbms -S backend -d db -H host[:port] -u url -p path -T temppath]
  envsync pull    (as push) [-t YYYY-MM-DDTHH:MM | --key KEY]
  envsync run     -f file.cfg  (the action comes from the file or -a)
  envsync schedules apply -f tasks.yaml [--dry-run] [--prune]
                                                 make Temporal Schedules match the tasks file
  envsync version

push, pull, run and worker talk to $TEMPORAL_ADDRESS (default 127.0.0.1:7233),
namespace --namespace or $TEMPORAL_NAMESPACE (default "default").
Exit status: 0 done, 1 the run failed, 2 bad input.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "push", "pull", "run":
		action := cmd
		if cmd == "run" {
			action = ""
		}
		return startRun(ctx, action, args, stdout, stderr)
	case "worker":
		err = runWorker(ctx, args, stderr)
	case "dev":
		err = runDev(ctx, args, stdout, stderr)
	case "demo":
		err = runDemo(ctx, args, stdout, stderr)
	case "schedules":
		err = runSchedules(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "envsync", buildinfo.Version)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "envsync: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	return exitCode(err, stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "envsync:", err)
	var input *starter.InputError
	if errors.As(err, &input) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func namespaceFlag(fs *flag.FlagSet) *string {
	return fs.String("namespace", starter.DefaultNamespace(), "Temporal namespace")
}

func dial(namespace string) (client.Client, error) {
	addr := os.Getenv("TEMPORAL_ADDRESS")
	if addr == "" {
		addr = "127.0.0.1:7233"
	}
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: namespace, Logger: launch.Logger()})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w (set TEMPORAL_ADDRESS, or start `envsync dev`)", addr, err)
	}
	return c, nil
}

func startRun(ctx context.Context, action string, args []string, stdout, stderr io.Writer) int {
	parsed, err := starter.ParseArgs(action, args, stderr)
	if err != nil {
		return exitCode(err, stderr)
	}
	c, err := dial(parsed.Namespace)
	if err != nil {
		return exitCode(err, stderr)
	}
	defer c.Close()
	r := parsed.Request
	fmt.Fprintf(stdout, "%s %s database %s (%s) via %s://%s/%s on host %s\n", r.Task.Action, r.Task.DBMS, r.Task.Database,
		parsed.Source, r.Task.StorageBackend, r.Task.URL, r.Task.Path, r.Task.WorkerHost)
	// Progress goes to stderr: stdout stays the summary, for scripts.
	watch := &starter.Watch{Out: stderr}
	if f, ok := stderr.(*os.File); ok {
		watch.TTY = term.IsTerminal(int(f.Fd()))
	}
	out, err := starter.RunWatched(ctx, c, r, watch)
	if err != nil {
		starter.Failed(stdout, out)
		var input *starter.InputError
		if !errors.As(err, &input) {
			err = errors.New(r.Task.Action + " failed: " + failure.Text(err))
		}
		return exitCode(err, stderr)
	}
	starter.Report(stdout, out)
	return exitCode(starter.Check(out, parsed.Source), stderr)
}

func workerFlags(fs *flag.FlagSet) (*activities.Config, *string) {
	cfg := &activities.Config{}
	host, _ := os.Hostname()
	h := fs.String("host", host, "this database host's name: serves task queue envsync-host-NAME")
	fs.StringVar(&cfg.LockDir, "lock-dir", activities.DefaultLockDir, "directory of reboot-lock files")
	fs.StringVar(&cfg.TempDir, "temp-dir", "", "directory for dumps in flight when a task names no temppath (default $TMPDIR/envsync)")
	fs.StringVar(&cfg.S3Endpoint, "s3-endpoint", os.Getenv("ENVSYNC_S3_ENDPOINT"), "S3-compatible endpoint URL (path-style); empty for AWS")
	fs.StringVar(&cfg.S3Region, "s3-region", os.Getenv("AWS_REGION"), "S3 region")
	fs.BoolVar(&cfg.S3NoEncryption, "s3-no-sse", false, "do not ask for server-side encryption (for servers without it)")
	// Each engine's own settings (where its tools are, say), as it
	// registered them.
	cfg.Engines = map[string]string{}
	for _, e := range engine.All() {
		for _, s := range e.Settings {
			if v := os.Getenv(s.Env); v != "" {
				cfg.Engines[s.Flag] = v
			}
			fs.Var(engineSetting{cfg.Engines, s.Flag}, s.Flag, s.Usage+" (dbms "+e.Name+"; default $"+s.Env+")")
		}
	}
	fs.StringVar(&cfg.SSHIdentity, "ssh-identity", "", "ssh private key for rsync stores (default: ssh's)")
	fs.StringVar(&cfg.SSHKnownHosts, "ssh-known-hosts", "", "known_hosts file for rsync stores (default: ssh's)")
	fs.StringVar(&cfg.HooksDir, "hooks-dir", "", "directory of the executables tasks name as before/after hooks")
	return cfg, h
}

// engineSetting is a flag that sets one engine setting of the worker.
type engineSetting struct {
	values map[string]string
	name   string
}

func (s engineSetting) String() string {
	if s.values == nil {
		return ""
	}
	return s.values[s.name]
}

func (s engineSetting) Set(v string) error { s.values[s.name] = v; return nil }

// monitoring holds the central worker's notify settings.
type monitoring struct {
	icingaURL, icingaCA, icingaUser, icingaPasswordFile, service string
	nscaServer, nscaConfig                                       string
	nscaPort                                                     int
}

func monitoringFlags(fs *flag.FlagSet) *monitoring {
	m := &monitoring{}
	fs.StringVar(&m.icingaURL, "icinga-url", os.Getenv("ENVSYNC_ICINGA_URL"), "Icinga 2 API, e.g. https://icinga.internal:5665")
	fs.StringVar(&m.icingaCA, "icinga-ca", "", "CA certificate (PEM) of the Icinga API")
	fs.StringVar(&m.icingaUser, "icinga-user", "envsync", "Icinga API user")
	fs.StringVar(&m.icingaPasswordFile, "icinga-password-file", "", "file holding the API user's password (else $ENVSYNC_ICINGA_PASSWORD)")
	fs.StringVar(&m.service, "icinga-service", notify.DefaultService, "service name template; {title} is the task's title")
	fs.StringVar(&m.nscaServer, "nsca-server", "", "send results with send_nsca to this NSCA server instead")
	fs.IntVar(&m.nscaPort, "nsca-port", 0, "NSCA port (default send_nsca's)")
	fs.StringVar(&m.nscaConfig, "nsca-config", "", "send_nsca configuration file")
	return m
}

func (m *monitoring) activities() (*notify.Activities, error) {
	a := &notify.Activities{Service: m.service}
	switch {
	case m.icingaURL != "" && m.nscaServer != "":
		return nil, &starter.InputError{Err: errors.New("give --icinga-url or --nsca-server, not both")}
	case m.icingaURL != "":
		password := os.Getenv("ENVSYNC_ICINGA_PASSWORD")
		if m.icingaPasswordFile != "" {
			b, err := os.ReadFile(m.icingaPasswordFile)
			if err != nil {
				return nil, &starter.InputError{Err: fmt.Errorf("--icinga-password-file: %w", err)}
			}
			password = strings.TrimSpace(string(b))
		}
		ic, err := notify.NewIcinga(m.icingaURL, m.icingaCA, m.icingaUser, password)
		if err != nil {
			return nil, &starter.InputError{Err: err}
		}
		a.Sender = ic
	case m.nscaServer != "":
		a.Sender = &notify.NSCA{Server: m.nscaServer, Port: m.nscaPort, Config: m.nscaConfig}
	}
	return a, nil
}

func runWorker(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("envsync worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ns := namespaceFlag(fs)
	central := fs.Bool("central", false, "also run the workflows (the central queue)")
	hostOnly := fs.Bool("no-host", false, "run no host activities (a central-only worker)")
	cfg, host := workerFlags(fs)
	mon := monitoringFlags(fs)
	if err := fs.Parse(args); err != nil {
		return &starter.InputError{Err: err}
	}
	notifier, err := mon.activities()
	if err != nil {
		return err
	}
	c, err := dial(*ns)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := searchattr.Register(ctx, c, *ns); err != nil {
		slog.Warn("search attributes not registered; starts will fail until they are", "error", err)
	}
	o := worker.Options{Central: *central, Host: *host, Activities: *cfg, Notify: notifier}
	if *hostOnly {
		o.Host = ""
	}
	slog.Info("envsync worker running", "central", o.Central, "host_queue", o.Host)
	return worker.Run(ctx, c, o)
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("envsync dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".envsync", "state directory (SQLite file, dumps, locks)")
	port := fs.Int("port", 7233, "gRPC port")
	uiPort := fs.Int("ui-port", 8233, "Web UI port")
	cfg, host := workerFlags(fs)
	mon := monitoringFlags(fs)
	if err := fs.Parse(args); err != nil {
		return &starter.InputError{Err: err}
	}
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

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("envsync demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := demo.Options{Out: stdout}
	fs.StringVar(&o.Dir, "dir", ".envsync", "state directory (SQLite file, dumps, locks)")
	fs.BoolVar(&o.Keep, "keep", false, "keep Temporal and its Web UI running after the demo, until Ctrl-C")
	fs.StringVar(&o.Postgres, "postgres", os.Getenv("ENVSYNC_DEMO_POSTGRES"), "host:port of a PostgreSQL server to use (credentials from PGUSER/PGPASSFILE); empty starts a throwaway one")
	if err := fs.Parse(args); err != nil {
		return &starter.InputError{Err: err}
	}
	return demo.Run(ctx, o)
}

func runSchedules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "apply" {
		return &starter.InputError{Err: errors.New("usage: envsync schedules apply -f tasks.yaml [--dry-run] [--prune]")}
	}
	fs := flag.NewFlagSet("envsync schedules apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ns := namespaceFlag(fs)
	file := fs.String("f", "", "tasks file (YAML)")
	dry := fs.Bool("dry-run", false, "print the plan, change nothing")
	prune := fs.Bool("prune", false, "also delete envsync schedules the file no longer names")
	if err := fs.Parse(args[1:]); err != nil {
		return &starter.InputError{Err: err}
	}
	if *file == "" {
		return &starter.InputError{Err: errors.New("-f tasks.yaml is required")}
	}
	f, err := config.LoadFile(*file)
	if err != nil {
		return &starter.InputError{Err: err}
	}
	c, err := dial(*ns)
	if err != nil {
		return err
	}
	defer c.Close()
	plan, err := schedules.Build(ctx, c, f, schedules.Progress(stderr))
	if err != nil {
		return err
	}
	plan.Print(stdout)
	pending := plan.Pending(*prune)
	switch {
	case pending == 0:
		fmt.Fprintln(stdout, "no changes")
	case *dry:
		fmt.Fprintf(stdout, "dry run: %d changes not applied\n", pending)
	default:
		n, err := plan.Apply(ctx, c, *prune)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d changes\n", n)
	}
	return nil
}
