// Package demo is `envsync demo`: the main job end to end on the embedded
// default. It pushes a sample PostgreSQL database to the local file store and
// pulls it into a second database, through an embedded Temporal server, and
// prints what happened and where to see it in the Web UI.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/devserver"
	"github.com/envsync/envsync/engine/postgres"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/internal/pgserver"
	"github.com/envsync/envsync/notify"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
	"github.com/envsync/envsync/workflows"
)

// Options of a demo run.
type Options struct {
	Dir string // state directory; required
	// Postgres is host:port of a server to use; empty starts a throwaway
	// one. Credentials come from libpq's environment (PGUSER, PGPASSFILE).
	Postgres string
	Keep     bool // keep Temporal and the UI up until ctx ends
	Out      io.Writer
}

const (
	source     = "envsync_demo"
	target     = "envsync_demo_copy"
	workerHost = "local"
)

// Run runs the demo.
func Run(ctx context.Context, o Options) error {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) }

	addr := o.Postgres
	if addr == "" {
		pg, err := throwawayPostgres(ctx, say)
		if err != nil {
			return err
		}
		defer pg.Stop()
		os.Setenv("PGUSER", pg.User) // the worker below connects as libpq would
		addr = pg.Addr()
		say("PostgreSQL  throwaway server on %s (binaries in %s)", addr, pg.BinDir)
	} else {
		say("PostgreSQL  %s", addr)
	}
	if err := createSample(ctx, addr); err != nil {
		return err
	}

	srv, err := devserver.Start(devserver.Options{Dir: dir, AnyPort: true})
	if err != nil {
		return err
	}
	defer srv.Stop()
	say("Temporal    %s (embedded, state in %s)", srv.Address, filepath.Join(dir, "temporal.db"))
	c, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: starter.Logger()})
	if err != nil {
		return err
	}
	defer c.Close()
	// The worker's log goes to a file: the demo's output is what it
	// promises, not the worker's notes (no monitoring is configured, ...).
	logFile, err := os.OpenFile(filepath.Join(dir, "worker.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	logger := slog.New(slog.NewTextHandler(logFile, nil))
	if os.Getenv("ENVSYNC_HASH_KEY") == "" {
		// The demo's own worker keys its transformers with this; a real
		// worker gets a secret of its own.
		os.Setenv("ENVSYNC_HASH_KEY", "envsync-demo-key-not-a-secret")
	}
	stop, err := worker.Start(c, worker.Options{Central: true, Host: workerHost, Notify: &notify.Activities{Logger: logger},
		Activities: activities.Config{LockDir: filepath.Join(dir, "locks"), TempDir: filepath.Join(dir, "tmp"), Logger: logger}})
	if err != nil {
		return err
	}
	defer stop()
	say("Worker      central and host %q, log in %s", workerHost, logFile.Name())

	base := config.Task{DBMS: postgres.Name, StorageBackend: "file", DatabaseHostname: addr,
		URL: filepath.Join(dir, "store"), Path: postgres.Name, WorkerHost: workerHost}
	tourDir := filepath.Join(dir, "tour")
	rules, err := pushInitPull(ctx, c, base, tourDir, say, o.Out)
	if err != nil {
		return err
	}

	summary, err := compare(ctx, addr)
	if err != nil {
		return err
	}
	say("\n== checked   %s", summary)
	if !o.Keep {
		// Temporal and its UI end with this command.
		say("Web UI      run `envsync demo --keep` to browse these runs in the Temporal Web UI")
		return nil
	}
	tasks, err := writeTour(tourDir, base, rules)
	if err != nil {
		return err
	}
	say("Web UI      %s (Temporal, the Web UI, the worker and PostgreSQL stay up until Ctrl-C)", srv.UIURL)
	say("\n== the tour: a sanitised pull (README), in another shell:\n  export TEMPORAL_ADDRESS=%s\n  envsync pull --tasks %s --task %s",
		srv.Address, tasks, tourTask)
	<-ctx.Done()
	return nil
}

// pushInitPull is the demo's main job: push the sample, write its rule set
// with sanitise init on the worker (every table and column, the personal
// ones found by what they hold), and pull the dump through it. It returns
// the rule set's path.
func pushInitPull(ctx context.Context, c client.Client, base config.Task, tourDir string, say func(string, ...any), out io.Writer) (string, error) {
	push := base
	push.Name, push.Action, push.Database = "push_"+source, config.ActionPush, source
	say("\n== push %s -> %s", source, filepath.Join(base.URL, base.Path))
	res, err := starter.Run(ctx, c, starter.Request{Task: push})
	if err != nil {
		return "", fmt.Errorf("push: %w", err)
	}
	starter.Report(out, res)

	say("\n== envsync sanitise init: a rule set from %s, read on the worker", source)
	survey, err := starter.Survey(ctx, c, push, workflows.Timeouts{})
	if err != nil {
		return "", fmt.Errorf("sanitise init: %w", err)
	}
	rules, err := writeRules(tourDir, survey)
	if err != nil {
		return "", err
	}
	out.Write(survey.YAML(""))

	pull := base
	pull.Name, pull.Action, pull.Database, pull.SourceDatabase = "pull_"+target, config.ActionPull, target, source
	pull.SanitiseRules = rules
	if err := pull.LoadRules("demo"); err != nil {
		return "", err
	}
	say("\n== pull the newest dump of %s into %s, sanitised as the rows pass", source, target)
	if res, err = starter.Run(ctx, c, starter.Request{Task: pull}); err != nil {
		return "", fmt.Errorf("pull: %w", err)
	}
	starter.Report(out, res)
	return rules, nil
}

// writeRules writes the rule set sanitise init made of the sample into
// dir, as the README's tour shows it.
func writeRules(dir string, s sanitise.Survey) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "rules.yaml")
	header := "envsync sanitise init --tasks TASKS --task push_" + source + "\n(the demo's sample: every table and column, the personal ones transformed)"
	return path, os.WriteFile(path, s.YAML(header), 0o644)
}

const tourTask = "pull_demo_staging"

// writeTour writes the README tour's tasks file into dir: a pull of the
// demo's dump into envsync_demo_staging through the rules, on the demo's
// worker, server and store (base). It returns the tasks file.
func writeTour(dir string, base config.Task, rules string) (string, error) {
	tasks := filepath.Join(dir, "tasks.yaml")
	body := fmt.Sprintf(`tasks:
  %s:
    action: pull
    dbms: %s
    storagebackend: %s
    url: %s
    path: %s
    worker_host: %s
    database_hostname: %s
    database: %s_staging
    source_database: %s
    sanitise_rules: %s
`, tourTask, base.DBMS, base.StorageBackend, base.URL, base.Path, base.WorkerHost, base.DatabaseHostname, source, source, rules)
	return tasks, os.WriteFile(tasks, []byte(body), 0o644)
}

// throwawayPostgres starts a server from Debian's binaries, installing them
// first when running as root.
func throwawayPostgres(ctx context.Context, say func(string, ...any)) (*pgserver.Server, error) {
	if _, err := pgserver.BinDir(); err != nil {
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("%w\nas root run: apt-get update && %s\nor point --postgres at a server", err, pgserver.InstallHint)
		}
		say("PostgreSQL  not installed; installing: %s", pgserver.InstallHint)
		if err := pgserver.Install(ctx); err != nil {
			return nil, err
		}
	}
	return pgserver.Start(ctx)
}

func connect(ctx context.Context, addr, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	host, port, err := config.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Database = host, db
	if port != 0 {
		cfg.Port = uint16(port)
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// createSample (re)creates the demo's source database: customers, orders
// with jsonb, a view.
func createSample(ctx context.Context, addr string) error {
	admin, err := connect(ctx, addr, "postgres")
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL at %s: %w", addr, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+source+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+source); err != nil {
		return err
	}
	db, err := connect(ctx, addr, source)
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	// Personal data as production holds it: names, addresses, phones,
	// dates of birth, addresses inside free text, delivery postcodes.
	_, err = db.Exec(ctx, `
		CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE NOT NULL, phone varchar(20), born date, notes text);
		CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2), items jsonb, placed_at timestamptz, deliver_to varchar(8));
		INSERT INTO customers (name, email, phone, born, notes)
		  SELECT (ARRAY['Olivia','George','Amelia','Harry','Isla','Jack','Ava','Noah'])[1 + i % 8] || ' ' || (ARRAY['Ashdown','Bellweather','Cobbold','Dunmore','Etheridge'])[1 + i % 5],
		         'customer' || i || '@shop-customers.example', '07700 9' || lpad(i::text, 5, '0'), DATE '1950-01-01' + i * 17,
		         CASE WHEN i % 4 = 0 THEN 'wants invoices sent to accounts' || i || '@shop-customers.example' ELSE 'none' END
		  FROM generate_series(1, 1000) i;
		INSERT INTO orders (customer_id, total, items, placed_at, deliver_to)
		  SELECT 1 + i % 1000, (i % 500) + 0.99, jsonb_build_object('sku', 'SKU-' || i, 'qty', 1 + i % 7), now() - i * interval '1 minute',
		         (ARRAY['SW1A 2AA','EH1 1YZ','M1 1AE','CF10 1EP','BT1 5GS'])[1 + i % 5]
		  FROM generate_series(1, 3000) i;
		CREATE VIEW big_spenders AS SELECT customer_id, sum(total) AS spent FROM orders GROUP BY customer_id HAVING sum(total) > 1000;`)
	return err
}

func compare(ctx context.Context, addr string) (string, error) {
	var parts []string
	for _, table := range []string{"customers", "orders", "big_spenders"} {
		var counts [2]int64
		for i, db := range []string{source, target} {
			conn, err := connect(ctx, addr, db)
			if err != nil {
				return "", err
			}
			err = conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&counts[i])
			conn.Close(ctx)
			if err != nil {
				return "", fmt.Errorf("count %s.%s: %w", db, table, err)
			}
		}
		if counts[0] != counts[1] {
			return "", errors.New("the copy differs from the source: " + table)
		}
		parts = append(parts, fmt.Sprintf("%s %d = %d rows", table, counts[0], counts[1]))
	}
	n, err := originalsIn(ctx, addr)
	if err != nil {
		return "", err
	}
	return strings.Join(parts, ", ") + fmt.Sprintf("\n            none of the %d original names, e-mail addresses and phone numbers is in the copy", n), nil
}

// originalsIn reads every name, e-mail address and phone number of the
// source, and fails if the copy holds any of them (in any column of
// customers, the notes' text included). It returns how many it looked for.
func originalsIn(ctx context.Context, addr string) (int, error) {
	const all = "SELECT name, email, phone, notes FROM customers"
	src, err := connect(ctx, addr, source)
	if err != nil {
		return 0, err
	}
	defer src.Close(ctx)
	rows, err := src.Query(ctx, all)
	if err != nil {
		return 0, err
	}
	var originals []string
	for rows.Next() {
		var name, email, phone, notes string
		if err := rows.Scan(&name, &email, &phone, &notes); err != nil {
			return 0, err
		}
		originals = append(originals, name, email, phone)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	dst, err := connect(ctx, addr, target)
	if err != nil {
		return 0, err
	}
	defer dst.Close(ctx)
	var copied string
	if err := dst.QueryRow(ctx, "SELECT string_agg(concat_ws(' | ', name, email, phone, notes), E'\\n') FROM customers").Scan(&copied); err != nil {
		return 0, err
	}
	for _, v := range originals {
		if strings.Contains(copied, v) {
			return 0, errors.New("an original value of customers is in the copy: the rule set let it through")
		}
	}
	return len(originals), nil
}
