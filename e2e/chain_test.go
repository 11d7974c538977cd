package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	_ "github.com/envsync/envsync/engine/all" // the engines and stores tasks name
	"github.com/envsync/envsync/internal/pgserver"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/workflows"
)

// The usual small setup: one worker host reaches the production and the
// staging server through database_hostname, and the push of a database
// chains into the pull of the same database name on staging. The two runs
// must not share a workflow ID (they did: envsync-<host>-<database>, so
// the pull never started and nothing said so), the push's output names the
// chained run, and the pull recreates the database with its source owner on
// a staging server that lacks it, or says why it could not.
func TestChainedPullOnSameWorkerHost(t *testing.T) {
	e := newEnv(t, false)
	staging := testenv.StartPostgres(t)
	prod := e.pg
	e.exec("postgres", "CREATE ROLE app_owner", "CREATE DATABASE shop OWNER app_owner")
	e.exec("shop", "SET ROLE app_owner", "CREATE TABLE items (id int PRIMARY KEY, name text)",
		"INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 300) i")

	dir := t.TempDir()
	tasks := writeFile(t, dir, "tasks.yaml", fmt.Sprintf(`
defaults:
  dbms: postgresql
  storagebackend: file
  url: %s
  path: postgresql
  worker_host: %s
  database: shop
tasks:
  push_shop:
    action: push
    database_hostname: %s
    then: [pull_shop]
  pull_shop:
    action: pull
    database_hostname: %s
`, filepath.Join(dir, "store"), testenv.Host, prod.Addr(), staging.Addr()))
	pullID := "envsync-" + testenv.Host + "-" + staging.Addr() + "/shop"
	ctx := context.Background()
	c := e.temporal.Client

	t.Run("role exists on staging: owned by the source's owner", func(t *testing.T) {
		execOn(t, staging, "postgres", "CREATE ROLE app_owner")
		r := e.envsync(t, "push", "--tasks", tasks, "--task", "push_shop")
		if r.code != 0 {
			t.Fatalf("push: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		pulled := waitPull(t, c, pullID)
		if owner := dbOwner(t, staging, "shop"); owner != "app_owner" {
			t.Errorf("owner on staging = %s; want app_owner, the source's owner", owner)
		}
		if len(pulled.Notes) != 0 {
			t.Errorf("notes %q for a pull that kept the owner", pulled.Notes)
		}
	})

	t.Run("role missing on staging: owned by the worker's role, and said", func(t *testing.T) {
		// Objects owned by a missing role could not be restored at all;
		// here only the database itself belongs to app_owner.
		e.exec("shop", "REASSIGN OWNED BY app_owner TO postgres", "ALTER DATABASE shop OWNER TO app_owner")
		execOn(t, staging, "postgres", "DROP DATABASE shop", "DROP ROLE app_owner")
		r := e.envsync(t, "push", "--tasks", tasks, "--task", "push_shop")
		if r.code != 0 {
			t.Fatalf("push: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if want := "chained   pull_shop started as " + pullID; !strings.Contains(r.stdout, want) {
			t.Fatalf("push output does not name the chained run %q:\n%s", want, r.stdout)
		}
		pulled := waitPull(t, c, pullID)
		if owner := dbOwner(t, staging, "shop"); owner != "postgres" {
			t.Errorf("owner on staging = %s; want the worker's role postgres, app_owner does not exist there", owner)
		}
		if len(pulled.Notes) != 1 || !strings.Contains(pulled.Notes[0], "app_owner does not exist on this server") {
			t.Errorf("pull notes = %q; want one saying the source owner's role is missing", pulled.Notes)
		}
		if n := count(t, staging, "shop", "SELECT count(*) FROM items"); n != 300 {
			t.Errorf("staging has %d items, want 300", n)
		}
	})

	t.Run("a chained pull that cannot start fails the command after the key", func(t *testing.T) {
		// Another run of the staging target is in progress: a run of
		// that ID that no worker picks up.
		busy, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: pullID, TaskQueue: "nobody-serves-this"}, "Pull")
		if err != nil {
			t.Fatal(err)
		}
		defer c.TerminateWorkflow(ctx, busy.GetID(), busy.GetRunID(), "test over")
		r := e.envsync(t, "push", "--tasks", tasks, "--task", "push_shop")
		if r.code != 1 {
			t.Fatalf("push with a chained pull that could not start: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "pushed    postgresql/") || !strings.Contains(r.stdout, "chained   pull_shop ("+pullID+") did not start") {
			t.Errorf("stdout lacks the pushed key or the chained run's failure:\n%s", r.stdout)
		}
		if !strings.Contains(r.stderr, "the push succeeded") || !strings.Contains(r.stderr, "complete and restorable") ||
			!strings.Contains(r.stderr, "envsync pull --tasks "+tasks+" --task pull_shop --key postgresql/") {
			t.Errorf("stderr does not say the dump is fine and how to run the pull:\n%s", r.stderr)
		}
	})
}

func waitPull(t *testing.T, c client.Client, id string) workflows.PullResult {
	t.Helper()
	var res workflows.PullResult
	if err := waitRun(t, c, id, "Pull").Get(context.Background(), &res); err != nil {
		t.Fatalf("chained pull %s: %v", id, err)
	}
	return res
}

func execOn(t *testing.T, s *pgserver.Server, db string, sql ...string) {
	t.Helper()
	conn, err := s.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range sql {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func count(t *testing.T, s *pgserver.Server, db, query string) int64 {
	t.Helper()
	conn, err := s.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func dbOwner(t *testing.T, s *pgserver.Server, db string) string {
	t.Helper()
	conn, err := s.Connect(context.Background(), "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var owner string
	if err := conn.QueryRow(context.Background(), "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", db).Scan(&owner); err != nil {
		t.Fatalf("owner of %s: %v", db, err)
	}
	return owner
}
