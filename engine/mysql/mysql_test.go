package mysql_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/mysql"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/internal/testenv/mysqlserver"
)

var schema = []string{
	"CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(100) UNIQUE, name VARCHAR(100), notes TEXT, photo BLOB) ENGINE=InnoDB",
	"CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2), placed DATETIME(3), status ENUM('new','paid'), FOREIGN KEY (customer_id) REFERENCES customers(id)) ENGINE=InnoDB",
	"CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(200)) ENGINE=InnoDB",
	"CREATE TABLE sessions (id INT PRIMARY KEY, token VARCHAR(64))",
	"CREATE VIEW big_orders AS SELECT o.id, c.email, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.total > 100",
	"CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (what) VALUES (CONCAT('order ', NEW.id))",
	"CREATE FUNCTION order_count(cid INT) RETURNS INT READS SQL DATA RETURN (SELECT COUNT(*) FROM orders WHERE customer_id = cid)",
	"CREATE PROCEDURE mark_paid(oid INT) UPDATE orders SET status = 'paid' WHERE id = oid",
	"INSERT INTO customers (email, name, notes, photo) SELECT CONCAT('user', seq, '@example.org'), CONCAT('Name ', seq), REPEAT('ü', seq % 7), UNHEX(MD5(seq)) FROM seq_1_to_300",
	"INSERT INTO orders (customer_id, total, placed, status) SELECT 1 + seq % 300, seq * 1.25, '2026-01-01 10:00:00.123' + INTERVAL seq MINUTE, IF(seq % 2, 'new', 'paid') FROM seq_1_to_1000",
	"INSERT INTO sessions VALUES (1, 'secret-session-token')",
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func open(t *testing.T, s *mysqlserver.Server, db string) *sql.DB {
	t.Helper()
	c, err := s.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// digest is every table's rows and the definitions of views, routines and
// triggers, as a person comparing two schemas would look at them.
func digest(t *testing.T, s *mysqlserver.Server, db string) map[string]string {
	t.Helper()
	c := open(t, s, db)
	out := map[string]string{}
	rows, err := c.Query(`SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`, db)
	if err != nil {
		t.Fatal(err)
	}
	type tbl struct{ name, typ string }
	var tables []tbl
	for rows.Next() {
		var x tbl
		rows.Scan(&x.name, &x.typ)
		tables = append(tables, x)
	}
	rows.Close()
	for _, x := range tables {
		r, err := c.Query("SELECT * FROM `" + x.name + "`")
		if err != nil {
			t.Fatalf("%s.%s: %v", db, x.name, err)
		}
		cols, _ := r.Columns()
		var lines []string
		for r.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			r.Scan(ptrs...)
			var b bytes.Buffer
			for _, v := range vals {
				fmt.Fprintf(&b, "%q|", v)
			}
			lines = append(lines, b.String())
		}
		r.Close()
		sort.Strings(lines)
		sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
		out[x.typ+" "+x.name] = fmt.Sprintf("%d rows %x", len(lines), sum[:8])
	}
	for _, q := range []string{
		"SELECT CONCAT('trigger ', TRIGGER_NAME, ' ', ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ', EVENT_OBJECT_TABLE, ' ', ACTION_STATEMENT) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?",
		"SELECT CONCAT('routine ', ROUTINE_TYPE, ' ', ROUTINE_NAME, ' ', ROUTINE_DEFINITION) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?",
	} {
		r, err := c.Query(q, db)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var v string
			r.Scan(&v)
			out[v] = "defined"
		}
		r.Close()
	}
	return out
}

// Round trip through dump, restore and swap while a reader keeps querying
// the live schema: everything but the excluded table arrives, the reader
// never fails, a table only in the old target is gone, and the trigger and
// routines work afterwards.
func TestRoundTripWhileServingReads(t *testing.T) {
	s := testenv.StartMariaDB(t)
	ctx := context.Background()
	admin := open(t, s, "")
	exec(t, admin, "CREATE DATABASE shop", "CREATE DATABASE shop_copy")
	exec(t, open(t, s, "shop"), schema...)
	exec(t, open(t, s, "shop_copy"), "CREATE TABLE orders (id INT PRIMARY KEY, total DECIMAL(10,2))", "INSERT INTO orders VALUES (1, 5)",
		"CREATE TABLE only_in_old (id INT)", "CREATE VIEW old_view AS SELECT 1 AS one")

	target := engine.Target{Host: s.Host, Port: s.Port}
	target.Database = "shop"
	var dumped bytes.Buffer
	if _, err := mysql.New(target, []string{"sessions"}, mysql.Options{}).Dump(ctx, &dumped); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(dumped.Bytes(), []byte("secret-session-token")) {
		t.Fatal("the excluded table's rows are in the dump")
	}

	target.Database = "shop_copy"
	e := mysql.New(target, nil, mysql.Options{})
	var reads, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a reader on the live schema throughout restore and swap
		defer wg.Done()
		reader := open(t, s, "shop_copy")
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			if err := reader.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil || n == 0 {
				failures.Add(1)
			}
			reads.Add(1)
		}
	}()
	if _, err := e.Restore(ctx, bytes.NewReader(dumped.Bytes()), "shop_copy_envsync_1", dump.Origin{}); err != nil {
		t.Fatal(err)
	}
	if err := e.Swap(ctx, "shop_copy_envsync_1", "envsync: restored k by run r"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || reads.Load() < 10 {
		t.Errorf("%d of %d reads of the live schema failed during the pull", failures.Load(), reads.Load())
	}

	want := digest(t, s, "shop")
	delete(want, "BASE TABLE sessions")
	got := digest(t, s, "shop_copy")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: source %s, copy %s", k, v, got[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s only in the copy", k)
		}
	}
	copyDB := open(t, s, "shop_copy")
	exec(t, copyDB, "INSERT INTO orders (customer_id, total) VALUES (1, 1)", "CALL mark_paid(1)")
	var audit, count int
	copyDB.QueryRow("SELECT COUNT(*) FROM audit WHERE what LIKE 'order %'").Scan(&audit)
	copyDB.QueryRow("SELECT order_count(1)").Scan(&count)
	var srcAudit int
	open(t, s, "shop").QueryRow("SELECT COUNT(*) FROM audit").Scan(&srcAudit)
	if audit != srcAudit+1 || count < 1 {
		t.Errorf("after the swap: trigger rows %d (source %d), order_count %d", audit, srcAudit, count)
	}
	var left int
	admin.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '%\\_envsync\\_%'").Scan(&left)
	if left != 0 {
		t.Errorf("%d staging or old schemas left", left)
	}
	if err := e.Swap(ctx, "shop_copy_envsync_1", "envsync: restored k by run r"); err != nil {
		t.Errorf("retried swap: %v", err)
	}
}

// A dump the server refuses fails at the first error, leaves the live
// schema as it was and no staging schema, and keeps row values out of the
// error (it ends up in workflow history).
func TestRefusedDumpLeavesTargetUntouched(t *testing.T) {
	s := testenv.StartMariaDB(t)
	admin := open(t, s, "")
	exec(t, admin, "CREATE DATABASE live")
	exec(t, open(t, s, "live"), "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))", "INSERT INTO t VALUES (1, 'kept')")
	before := digest(t, s, "live")
	bad := "CREATE TABLE u (email VARCHAR(50) PRIMARY KEY);\nINSERT INTO u VALUES ('jane.doe@example.org');\nINSERT INTO u VALUES ('jane.doe@example.org');\n"
	e := mysql.New(engine.Target{Database: "live", Host: s.Host, Port: s.Port}, nil, mysql.Options{})
	_, err := e.Restore(context.Background(), strings.NewReader(bad), "live_envsync_2", dump.Origin{})
	if err == nil || !strings.Contains(err.Error(), "Duplicate entry") || !strings.Contains(err.Error(), "untouched") {
		t.Fatalf("error = %v", err)
	}
	if strings.Contains(err.Error(), "jane.doe") {
		t.Errorf("row value in the error: %v", err)
	}
	if after := digest(t, s, "live"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("live changed: %v -> %v", before, after)
	}
	var left int
	admin.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'live_envsync_2'").Scan(&left)
	if left != 0 {
		t.Error("staging schema left behind")
	}
}
