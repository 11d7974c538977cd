package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/datapath"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/metrics"
	"github.com/envsync/envsync/notify"
	"github.com/envsync/envsync/searchattr"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/temporalconn"
	"github.com/envsync/envsync/worker"
)

func workerCommand(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	temporal := temporalFlags(fs)
	central := fs.Bool("central", false, "also run the workflows (the central queue)")
	noHost := fs.Bool("no-host", false, "run no host activities (a central-only worker, with --central)")
	cfg, host := workerFlags(fs)
	mon := monitoringFlags(fs)
	listen := fs.String("metrics-listen", "", "serve Prometheus metrics on `addr`ess host:port at /metrics (default: off)")
	wait := fs.Duration("wait-at-start", 5*time.Minute, "how long to keep trying at start while Temporal cannot be reached yet (0: fail at once)")
	profile := fs.Bool("pprof", false, "also serve Go's profiles at /debug/pprof/ on the --metrics-listen address (CPU profiles of a run: stacks and timings, no data)")
	return func(ctx context.Context, _, _ io.Writer) error {
		if err := engine.CheckSettings(cfg.Engines); err != nil {
			return &starter.InputError{Err: err} // from the environment: flags are checked as they are read
		}
		if *profile && *listen == "" {
			return &starter.InputError{Err: errors.New("--pprof serves on the --metrics-listen address: give that too")}
		}
		notifier, err := mon.activities()
		if err != nil {
			return err
		}
		var m *metrics.Metrics
		var sdkMetrics client.MetricsHandler
		if *listen != "" {
			m = metrics.New()
			addr, err := m.Serve(ctx, *listen, *profile)
			if err != nil {
				return &starter.InputError{Err: fmt.Errorf("--metrics-listen %s: %w", *listen, err)}
			}
			sdkMetrics = m.SDK()
			slog.Info("metrics served", "url", "http://"+addr+"/metrics")
		}
		// A worker may start before its server (a host booting, `docker
		// compose up`): it waits for it rather than exit.
		conn, err := temporalconn.Load(*temporal)
		if err != nil {
			return &starter.InputError{Err: err}
		}
		c, err := conn.DialWaiting(ctx, starter.Logger(), sdkMetrics, *wait, func(err error) {
			slog.Warn("Temporal cannot be reached yet; trying again", "up_to", wait.String(), "error", err)
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while waiting: a clean stop
			}
			return err
		}
		defer c.Close()
		if err := searchattr.Register(ctx, c, conn.Options.Namespace); err != nil {
			slog.Warn("search attributes not registered; starts will fail until they are", "error", err)
		}
		o := worker.Options{Central: *central, Host: *host, Activities: *cfg, Notify: notifier, Metrics: m}
		if *noHost {
			o.Host = ""
		}
		slog.Info("envsync worker running", "temporal", conn.String(), "central", o.Central, "host_queue", o.Host)
		return worker.Run(ctx, c, o)
	}
}

func workerFlags(fs *flag.FlagSet) (*activities.Config, *string) {
	cfg := &activities.Config{}
	host, _ := os.Hostname()
	h := fs.String("host", host, "this database host's `name`: serves task queue envsync-host-NAME")
	fs.StringVar(&cfg.LockDir, "lock-dir", activities.DefaultLockDir, "`directory` of reboot-lock files")
	fs.StringVar(&cfg.TempDir, "temp-dir", "", "`directory` for dumps in flight when a task names no temppath (default $TMPDIR/envsync)")
	fs.StringVar(&cfg.S3Endpoint, "s3-endpoint", os.Getenv("ENVSYNC_S3_ENDPOINT"), "S3-compatible endpoint `URL` (path-style); empty for AWS")
	fs.StringVar(&cfg.S3Region, "s3-region", os.Getenv("AWS_REGION"), "S3 `region`")
	fs.BoolVar(&cfg.S3NoEncryption, "s3-no-sse", false, "do not ask for server-side encryption (for servers without it)")
	// Dumps leave production serving: the original's nice and ionice.
	cfg.DumpPriority = engine.DefaultPriority
	fs.Func("dump-nice", "`niceness` 0-19 of dump tools (pg_dump, mysqldump); 0: the worker's (default 10)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 19 {
			return fmt.Errorf("want 0-19, got %q", v)
		}
		cfg.DumpPriority.Nice = n
		return nil
	})
	fs.Func("dump-ionice", "I/O `class[:level]` of dump tools, as ionice -c CLASS -n LEVEL, or none (default 2:7)", func(v string) (err error) {
		cfg.DumpPriority.IOClass, cfg.DumpPriority.IOLevel, err = engine.ParseIONice(v)
		return err
	})
	fs.Func("age-identity", "age identity `file` (age-keygen's) that decrypts encrypted dumps on pull; may be given more than once", func(v string) error {
		ids, err := activities.LoadAgeIdentities(v)
		cfg.AgeIdentities = append(cfg.AgeIdentities, ids...)
		return err
	})
	fs.Func("upload-limit", "cap uploads to stores at this `rate`, e.g. 50MiB/s (default: none)", func(v string) (err error) {
		cfg.UploadLimit, err = datapath.ParseRate(v)
		return err
	})
	// Each engine's own settings (where its tools are, say), as it
	// registered them.
	cfg.Engines = map[string]string{}
	for _, e := range engine.All() {
		for _, s := range e.Settings {
			if v := os.Getenv(s.Env); v != "" {
				cfg.Engines[s.Flag] = v
			}
			fs.Var(engineSetting{cfg.Engines, s.Flag, s.Check}, s.Flag, s.Usage+" (dbms "+e.Name+"; default $"+s.Env+")")
		}
	}
	fs.StringVar(&cfg.SSHIdentity, "ssh-identity", "", "ssh private key `file` for rsync stores (default: ssh's)")
	fs.StringVar(&cfg.SSHKnownHosts, "ssh-known-hosts", "", "known_hosts `file` for rsync stores (default: ssh's)")
	fs.StringVar(&cfg.HooksDir, "hooks-dir", "", "`directory` of the executables tasks name as before/after hooks")
	return cfg, h
}

// engineSetting is a flag that sets one engine setting of the worker.
type engineSetting struct {
	values map[string]string
	name   string
	check  func(string) error
}

func (s engineSetting) String() string {
	if s.values == nil {
		return ""
	}
	return s.values[s.name]
}

func (s engineSetting) Set(v string) error {
	if s.check != nil {
		if err := s.check(v); err != nil {
			return err
		}
	}
	s.values[s.name] = v
	return nil
}

// monitoring holds the central worker's notify settings.
type monitoring struct {
	icingaURL, icingaCA, icingaUser, icingaPasswordFile, service string
	nscaServer, nscaConfig                                       string
	nscaPort                                                     int
}

func monitoringFlags(fs *flag.FlagSet) *monitoring {
	m := &monitoring{}
	fs.StringVar(&m.icingaURL, "icinga-url", os.Getenv("ENVSYNC_ICINGA_URL"), "Icinga 2 API `URL`, e.g. https://icinga.internal:5665")
	fs.StringVar(&m.icingaCA, "icinga-ca", "", "CA certificate `file` (PEM) of the Icinga API")
	fs.StringVar(&m.icingaUser, "icinga-user", "envsync", "Icinga API `user`")
	fs.StringVar(&m.icingaPasswordFile, "icinga-password-file", "", "`file` holding the API user's password (else $ENVSYNC_ICINGA_PASSWORD)")
	fs.StringVar(&m.service, "icinga-service", notify.DefaultService, "service name `template`; {title} is the task's title")
	fs.StringVar(&m.nscaServer, "nsca-server", "", "send results with send_nsca to this NSCA `host` instead")
	fs.IntVar(&m.nscaPort, "nsca-port", 0, "NSCA `port` (default send_nsca's)")
	fs.StringVar(&m.nscaConfig, "nsca-config", "", "send_nsca configuration `file`")
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
