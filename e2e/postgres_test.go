package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/workflows"
)

// A rich database pushed to S3 and the file store and pulled into another
// database that is in use: schema and every row match the source, the
// target keeps its own owner, grants and settings, a table only the old
// target had is gone, and the client on the target was disconnected.
func TestPushPullPostgres(t *testing.T) {
	e := newEnv(t, true)
	e.createShop("shop")
	ctx := context.Background()

	for _, backend := range []string{"s3", "file"} {
		t.Run(backend, func(t *testing.T) {
			target := "shop_copy_" + backend
			e.exec("postgres",
				"CREATE ROLE staging_owner_"+backend, "CREATE ROLE reporting_"+backend,
				"CREATE DATABASE "+target+" OWNER staging_owner_"+backend,
				"REVOKE CONNECT ON DATABASE "+target+" FROM PUBLIC",
				"GRANT CONNECT ON DATABASE "+target+" TO reporting_"+backend,
				"ALTER DATABASE "+target+" SET work_mem = '8MB'",
				`ALTER DATABASE `+target+` SET search_path = "$user", public, sales`)
			e.exec(target, "CREATE TABLE only_in_old_target (id int)", "INSERT INTO only_in_old_target VALUES (1)")
			holder := e.conn(target)
			props := func() (owner, acl, settings string) {
				err := e.conn("postgres").QueryRow(ctx, `SELECT pg_get_userbyid(d.datdba), (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(d.datacl) x),
					(SELECT coalesce(string_agg(x, ';' ORDER BY x), '') FROM pg_db_role_setting s, unnest(s.setconfig) x WHERE s.setdatabase = d.oid)
					FROM pg_database d WHERE datname = $1`, target).Scan(&owner, &acl, &settings)
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			oldOwner, oldACL, oldSettings := props()

			push := e.mustRunT(t, starter.Request{Task: e.task(config.ActionPush, "shop", backend)})
			if push.Push.Size == 0 || len(push.Push.SHA256) != 64 || !strings.HasPrefix(push.Push.Key, "postgresql/") {
				t.Fatalf("push result %+v", push.Push)
			}
			e.assertStored(t, backend, push.Push.Key, push.Push.Size)

			pullTask := e.task(config.ActionPull, target, backend)
			pullTask.SourceDatabase = "shop"
			pull := e.mustRunT(t, starter.Request{Task: pullTask})
			if pull.Pull.Key != push.Push.Key || pull.Pull.SHA256 != push.Push.SHA256 {
				t.Errorf("pulled %s (%s), pushed %s (%s)", pull.Pull.Key, pull.Pull.SHA256, push.Push.Key, push.Push.SHA256)
			}

			if s, c := e.schema("shop"), e.schema(target); s != c {
				t.Errorf("schema differs:\nsource:\n%s\ncopy:\n%s", s, c)
			}
			sameRows(t, e.rows("shop"), e.rows(target))
			if err := holder.Ping(ctx); err == nil {
				t.Error("the client connected to the old target still works: the swap did not end its session")
			}

			owner, acl, settings := props()
			if owner != oldOwner || acl != oldACL || !strings.Contains(acl, "reporting_"+backend+"=c/") {
				t.Errorf("target owner %s, grants %s: want the old target's %s, %s", owner, acl, oldOwner, oldACL)
			}
			if settings != oldSettings || settings != `search_path="$user", public, sales;work_mem=8MB` {
				t.Errorf("target settings %q, want the old target's %q", settings, oldSettings)
			}
			var n int
			if err := e.conn(target).QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_old_target'`).Scan(&n); err != nil || n != 0 {
				t.Errorf("a table only in the old target survived the pull (count %d, %v)", n, err)
			}
			// The restored database works, not just its catalog: functions,
			// triggers and the extension.
			var count int64
			var touched string
			if err := e.conn(target).QueryRow(ctx, `SELECT order_count(1)`).Scan(&count); err != nil || count != 4 {
				t.Errorf("order_count(1) = %d, %v", count, err)
			}
			e.exec(target, `UPDATE sales.orders SET total = 1 WHERE id = 1`)
			if err := e.conn(target).QueryRow(ctx, `SELECT updated_at::date::text FROM sales.orders WHERE id = 1`).Scan(&touched); err != nil || touched != "2026-01-01" {
				t.Errorf("trigger did not fire after restore: %q, %v", touched, err)
			}
			if left := e.stagingLeft(); len(left) != 0 {
				t.Errorf("staging databases left behind: %v", left)
			}
			e.assertNoLocksOrTemp(t)

			if backend == "file" {
				// The README's manual restore works on what envsync wrote.
				e.exec("postgres", "CREATE DATABASE by_hand")
				cmd := exec.Command("sh", "-c", fmt.Sprintf(`zstd -dc %q | %q --exit-on-error --no-password -h %s -p %d -U postgres -d by_hand`,
					filepath.Join(e.fileDir, push.Push.Key), filepath.Join(e.pg.BinDir, "pg_restore"), e.pg.Host, e.pg.Port))
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("zstd -dc | pg_restore: %v: %s", err, out)
				}
				sameRows(t, e.rows("shop"), e.rows("by_hand"))
			}
		})
	}

	// Operators find runs by database in the UI and CLI.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := e.temporal.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: e.temporal.Namespace, Query: `EnvsyncDatabase = "shop" AND EnvsyncAction = "push"`})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetExecutions()); n == 2 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("search for EnvsyncDatabase=shop pushes found %d runs, want 2", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *env) assertStored(t *testing.T, backend, key string, size int64) {
	t.Helper()
	for _, k := range []string{key, dump.ManifestKey(key)} {
		var got int64
		switch backend {
		case "s3":
			out, err := e.s3.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			if err != nil {
				t.Fatalf("%s not in the bucket: %v", k, err)
			}
			got = aws.ToInt64(out.ContentLength)
		default:
			fi, err := os.Stat(filepath.Join(e.fileDir, k))
			if err != nil {
				t.Fatalf("%s not in the file store: %v", k, err)
			}
			got = fi.Size()
		}
		if k == key && got != size {
			t.Errorf("%s holds %d bytes, the push reported %d", k, got, size)
		}
	}
}

// assertUntouched checks that a failed pull left db as snapshotted before,
// no staging copy, and no lock or temp file.
func (e *env) assertUntouched(t *testing.T, db, before string) {
	t.Helper()
	if after := e.snapshot(db); after != before {
		t.Errorf("target changed by a failed pull:\nbefore %s\nafter %s", before, after)
	}
	if left := e.stagingLeft(); len(left) != 0 {
		t.Errorf("staging databases left behind: %v", left)
	}
	e.assertNoLocksOrTemp(t)
}

func (e *env) assertNoLocksOrTemp(t *testing.T) {
	t.Helper()
	for _, dir := range []string{e.worker.LockDir, e.worker.TempDir} {
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			t.Errorf("left behind after the run: %s", filepath.Join(dir, en.Name()))
		}
	}
}

// A dump whose bytes changed, or that lost its tail, is refused before
// restore: the target keeps its identity and data, no staging copy is left.
func TestCorruptOrTruncatedDumpIsRefused(t *testing.T) {
	e := newEnv(t, false)
	e.createShop("shop")
	e.exec("postgres", "CREATE DATABASE shop_staging")
	e.exec("shop_staging", "CREATE TABLE precious (v text)", "INSERT INTO precious VALUES ('still here')")

	push := e.mustRun(starter.Request{Task: e.task(config.ActionPush, "shop", "file")})
	object := filepath.Join(e.fileDir, push.Push.Key)
	original, err := os.ReadFile(object)
	if err != nil {
		t.Fatal(err)
	}
	pullTask := e.task(config.ActionPull, "shop_staging", "file")
	pullTask.SourceDatabase = "shop"

	for name, damage := range map[string]func([]byte) []byte{
		"flipped byte": func(b []byte) []byte { c := append([]byte(nil), b...); c[len(c)/2] ^= 0x40; return c },
		"truncated":    func(b []byte) []byte { return b[:len(b)-100] },
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(object, damage(original), 0o644); err != nil {
				t.Fatal(err)
			}
			before := e.snapshot("shop_staging")
			_, err := e.run(starter.Request{Task: pullTask})
			if err == nil {
				t.Fatal("pull of a damaged dump succeeded")
			}
			if !strings.Contains(err.Error(), push.Push.Key) || !strings.Contains(err.Error(), "live database is untouched") {
				t.Errorf("error does not name the dump and the safe outcome: %v", err)
			}
			e.assertUntouched(t, "shop_staging", before)
		})
	}
}

// -t restores the dump of that minute, not the newest; "orders" never
// picks up "orders-archive" dumps even when they are newer.
func TestTimestampPicksExactDumpAndNamesMatchExactly(t *testing.T) {
	e := newEnv(t, false)
	e.exec("postgres", "CREATE DATABASE orders", `CREATE DATABASE "orders-archive"`, "CREATE DATABASE orders_staging")
	e.exec("orders", "CREATE TABLE v (generation text)", "INSERT INTO v VALUES ('old')")
	old := e.mustRun(starter.Request{Task: e.task(config.ActionPush, "orders", "file")})

	// Make the first dump a week old: same bytes under an older key, with
	// its manifest rewritten to match, as an earlier nightly run left it.
	oldTime := time.Date(2026, 11, 19, 23, 30, 7, 0, time.UTC)
	oldKey := dump.Key("postgresql", "orders", oldTime, old.Push.Compression)
	moveDump(t, e.fileDir, old.Push.Key, oldKey)

	e.exec("orders", "UPDATE v SET generation = 'new'")
	e.mustRun(starter.Request{Task: e.task(config.ActionPush, "orders", "file")})
	time.Sleep(1100 * time.Millisecond) // keys have one-second resolution
	e.exec("orders-archive", "CREATE TABLE v (generation text)", "INSERT INTO v VALUES ('archive')")
	archive := e.mustRun(starter.Request{Task: e.task(config.ActionPush, "orders-archive", "file")})

	pull := e.task(config.ActionPull, "orders_staging", "file")
	pull.SourceDatabase = "orders"
	generation := func() string {
		var g string
		if err := e.conn("orders_staging").QueryRow(context.Background(), "SELECT generation FROM v").Scan(&g); err != nil {
			t.Fatal(err)
		}
		return g
	}

	got := e.mustRun(starter.Request{Task: pull, Timestamp: "2026-11-19T23:30"})
	if got.Pull.Key != oldKey || generation() != "old" {
		t.Errorf("-t 2026-11-19T23:30 restored %s (%s), want %s (old)", got.Pull.Key, generation(), oldKey)
	}
	got = e.mustRun(starter.Request{Task: pull})
	if got.Pull.Key == archive.Push.Key || generation() != "new" {
		t.Errorf("latest restored %s (%s): want the newest orders dump, never orders-archive", got.Pull.Key, generation())
	}

	_, err := e.run(starter.Request{Task: pull, Timestamp: "2026-11-18T23:30"})
	if err == nil || !strings.Contains(err.Error(), "no complete dump found at 2026-11-18T23:30 UTC") || !strings.Contains(err.Error(), "2026-11-19T23:30:07Z") {
		t.Errorf("missing timestamp: %v; want a clear error listing what exists", err)
	}
}

func moveDump(t *testing.T, dir, from, to string) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(dir, dump.ManifestKey(from)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := dump.UnmarshalManifest(dump.ManifestKey(from), body)
	if err != nil {
		t.Fatal(err)
	}
	m.Key = to
	body, _ = m.Marshal()
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, dump.ManifestKey(to)), body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, dump.ManifestKey(from))); err != nil {
		t.Fatal(err)
	}
}

// pg_restore failing part way (here: staging lacks the dump's owner role)
// fails the run with pg_restore's reason; the live target is as it was.
func TestFailedRestoreLeavesTargetUntouched(t *testing.T) {
	e := newEnv(t, false)
	e.createShop("shop")
	e.mustRun(starter.Request{Task: e.task(config.ActionPush, "shop", "file")})
	e.exec("postgres", "CREATE DATABASE shop_staging")
	e.exec("shop_staging", "CREATE TABLE precious (v text)", "INSERT INTO precious VALUES ('still here')")
	// A staging server without the role that owns the dump's objects.
	e.exec("postgres", "DROP DATABASE shop WITH (FORCE)", "DROP ROLE shop_owner")
	before := e.snapshot("shop_staging")

	pull := e.task(config.ActionPull, "shop_staging", "file")
	pull.SourceDatabase = "shop"
	_, err := e.run(starter.Request{Task: pull})
	if err == nil || !strings.Contains(err.Error(), `role "shop_owner" does not exist`) || !strings.Contains(err.Error(), "untouched") {
		t.Fatalf("error = %v; want pg_restore's reason and that the live database is untouched", err)
	}
	e.assertUntouched(t, "shop_staging", before)
}

// A task for a host with no worker fails with the host's name instead of
// hanging; while such a run waits, an identical request attaches to it
// and a different one for the same database is refused.
func TestHostWithoutWorkerAndOneRunPerDatabase(t *testing.T) {
	e := newEnv(t, false)
	tk := e.task(config.ActionPull, "orders", "file")
	tk.WorkerHost = "db9"

	_, err := e.run(starter.Request{Task: tk, Timeouts: workflows.Timeouts{HostWait: 2 * time.Second}})
	if err == nil || !strings.Contains(err.Error(), "envsync-host-db9") || !strings.Contains(err.Error(), "envsync worker --host db9") {
		t.Fatalf("error = %v; want the missing host named", err)
	}

	ctx := context.Background()
	req := starter.Request{Task: tk, Timeouts: workflows.Timeouts{HostWait: time.Minute}}
	first, err := starter.Start(ctx, e.temporal.Client, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := starter.Start(ctx, e.temporal.Client, req)
	if err != nil || again.GetRunID() != first.GetRunID() {
		t.Errorf("identical request: run %v, %v; want to attach to %s", again, err, first.GetRunID())
	}
	other := req
	other.Timestamp = "2026-11-19T23:30"
	_, err = starter.Start(ctx, e.temporal.Client, other)
	if err == nil || !strings.Contains(err.Error(), "another run of this database is in progress") || !strings.Contains(err.Error(), first.GetRunID()) {
		t.Errorf("different request for the same database: %v; want a refusal naming the running one", err)
	}
	if err := e.temporal.Client.CancelWorkflow(ctx, first.GetID(), first.GetRunID()); err != nil {
		t.Fatal(err)
	}
	var canceled error
	if err := first.Get(ctx, nil); err != nil {
		canceled = err
	}
	if canceled == nil || !strings.Contains(strings.ToLower(canceled.Error()), "cancel") {
		t.Errorf("cancelled run ended with %v", canceled)
	}
}
