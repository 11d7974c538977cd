package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/starter"
)

// A restore drill on PostgreSQL and MariaDB: one that passes writes its
// evidence beside the dump and leaves no database behind; one whose check
// finds nothing and one whose dump is damaged both fail, leave no
// database and write no evidence. `envsync dumps` and `envsync status`
// show the drills.
func TestDrillProvesTheNewestDump(t *testing.T) {
	e := newEnv(t, false)
	e.mdb = testenv.StartMariaDB(t)
	e.exec("postgres", "CREATE DATABASE drilled")
	e.exec("drilled", "CREATE TABLE t (v int)", "INSERT INTO t SELECT generate_series(1, 42)", "CREATE TABLE u (v int)")
	mustExec(t, e.mysql(t, ""), "CREATE DATABASE drilled")
	mustExec(t, e.mysql(t, "drilled"), "CREATE TABLE t (v int)", "INSERT INTO t VALUES (42), (7)", "CREATE TABLE u (v int)")
	servers := map[string]string{"postgresql": e.pg.Addr(), "mysql": e.mdb.Addr()}
	var tasks strings.Builder
	fmt.Fprintf(&tasks, "defaults:\n  database: drilled\n  worker_host: %s\n  storagebackend: file\n  url: %s\ntasks:\n", testenv.Host, e.fileDir)
	for dbms, addr := range servers {
		fmt.Fprintf(&tasks, `  push_%[1]s:
    action: push
    dbms: %[1]s
    database_hostname: %[2]s
    path: %[1]s
  drill_%[1]s:
    action: drill
    dbms: %[1]s
    database_hostname: %[2]s
    path: %[1]s
    checks:
      - SELECT 1 FROM t WHERE v = 42
      - SELECT count(*) FROM u
  drillbad_%[1]s:
    action: drill
    dbms: %[1]s
    database_hostname: %[2]s
    path: %[1]s
    checks:
      - SELECT 1 FROM t WHERE v = 1000
`, dbms, addr)
	}
	file := writeFile(t, t.TempDir(), "tasks.yaml", tasks.String())
	task := fileTasks(t, file)
	left := func(t *testing.T, dbms string) int {
		t.Helper()
		if dbms == "postgresql" {
			return len(e.stagingLeft())
		}
		var n int
		if err := e.mysql(t, "").QueryRow(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '%\_envsync\_%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	evidence := func(key string) string { return filepath.Join(e.fileDir, dump.DrillKey(key)) }

	for _, dbms := range []string{"postgresql", "mysql"} {
		t.Run(dbms, func(t *testing.T) {
			good := e.mustRunT(t, starter.Request{Task: task("push_" + dbms)}).Push.Key
			r := e.envsync(t, "drill", "--tasks", file, "--task", "drill_"+dbms)
			if r.code != 0 || !strings.Contains(r.stdout, "drilled   "+good) || !strings.Contains(r.stdout, "checks    2 passed") ||
				!strings.Contains(r.stdout, "evidence  "+dump.DrillKey(good)) {
				t.Fatalf("envsync drill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			body, err := os.ReadFile(evidence(good))
			if err != nil {
				t.Fatalf("no evidence beside the drilled dump: %v", err)
			}
			d, err := dump.UnmarshalDrill(good, body)
			wantRows := map[string]int64{"postgresql": 42, "mysql": 2}[dbms]
			if err != nil || d.Key != good || d.Task != "drill_"+dbms || d.Tables != 2 || d.Rows != wantRows || d.Checks != 2 ||
				d.EnvsyncVersion == "" || !strings.HasPrefix(d.WorkerHost, testenv.Host) || time.Since(d.At) > time.Minute {
				t.Errorf("evidence %+v (%v)", d, err)
			}
			if n := left(t, dbms); n != 0 {
				t.Errorf("a drill that passed left %d databases", n)
			}

			// A check that finds nothing fails the drill.
			time.Sleep(1100 * time.Millisecond) // keys name the second
			second := e.mustRunT(t, starter.Request{Task: task("push_" + dbms)}).Push.Key
			_, err = e.run(starter.Request{Task: task("drillbad_" + dbms)})
			if err == nil || !strings.Contains(err.Error(), "check 1 (SELECT 1 FROM t WHERE v = 1000) returned no row") {
				t.Errorf("a drill whose check finds nothing: %v", err)
			}
			if _, err := os.Stat(evidence(second)); !os.IsNotExist(err) {
				t.Errorf("a failed drill wrote evidence (%v)", err)
			}
			if n := left(t, dbms); n != 0 {
				t.Errorf("a drill whose check failed left %d databases", n)
			}

			// So does a damaged dump.
			time.Sleep(1100 * time.Millisecond)
			third := e.mustRunT(t, starter.Request{Task: task("push_" + dbms)}).Push.Key
			data, err := os.ReadFile(filepath.Join(e.fileDir, third))
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			if err := os.WriteFile(filepath.Join(e.fileDir, third), data, 0o644); err != nil {
				t.Fatal(err)
			}
			r = e.envsync(t, "drill", "--tasks", file, "--task", "drill_"+dbms)
			if r.code != 1 || !strings.Contains(r.stdout+r.stderr, third) {
				t.Errorf("a drill of a damaged dump: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if _, err := os.Stat(evidence(third)); !os.IsNotExist(err) {
				t.Errorf("a drill of a damaged dump wrote evidence (%v)", err)
			}
			if n := left(t, dbms); n != 0 {
				t.Errorf("a drill of a damaged dump left %d databases", n)
			}

			// dumps shows the drill on the dump it passed on; status
			// shows the drill task failing.
			r = e.envsync(t, "dumps", "--tasks", file, "--task", "drill_"+dbms, "--json")
			var res activities.DumpsResult
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Dumps) != 3 {
				t.Fatalf("dumps: %v\n%s%s", err, r.stdout, r.stderr)
			}
			for _, d := range res.Dumps {
				if (d.Drill != nil) != (d.Key == good) {
					t.Errorf("%s: drill %+v; only %s passed one", d.Key, d.Drill, good)
				}
			}
			r = e.envsync(t, "status", "--tasks", file, "--task", "drill_"+dbms)
			if r.code != 1 || !strings.Contains(r.stdout, "drill_"+dbms+": failing: the last run failed") {
				t.Errorf("status after a failed drill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}

	// Bad input names the field.
	bad := writeFile(t, t.TempDir(), "tasks.yaml", fmt.Sprintf(`tasks:
  drill_x:
    action: drill
    dbms: postgresql
    database: drilled
    worker_host: %s
    storagebackend: file
    url: %s
    path: postgresql
    checks: ["DELETE FROM t"]
`, testenv.Host, e.fileDir))
	if r := e.envsync(t, "drill", "--tasks", bad, "--task", "drill_x"); r.code != 2 || !strings.Contains(r.stderr, `checks[0] "DELETE FROM t"`) {
		t.Errorf("a check that is not a SELECT: exit %d\n%s", r.code, r.stderr)
	}
}
