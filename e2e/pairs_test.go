package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/internal/testenv/esdouble"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
)

// mongoFixture serves mongo and documentdb (the same engine; DocumentDB
// speaks the same protocol) with database names of their own.
func mongoFixture(dbms, prefix string) fixture {
	return fixture{
		prepare: func(t *testing.T, e *env, backend string) (config.Task, config.Task) {
			ctx := context.Background()
			c := e.mongoClient(t)
			src, dst := prefix+"src_"+backend, prefix+"dst_"+backend
			var docs []any
			for i := 0; i < 1500; i++ {
				docs = append(docs, bson.D{{Key: "_id", Value: primitive.NewObjectID()}, {Key: "n", Value: int64(i)},
					{Key: "when", Value: primitive.NewDateTimeFromTime(time.Unix(int64(i)*3600, 0))},
					{Key: "nested", Value: bson.D{{Key: "tags", Value: bson.A{"x", i}}}}, {Key: "bin", Value: primitive.Binary{Data: []byte{byte(i)}}}})
			}
			if _, err := c.Database(src).Collection("events").InsertMany(ctx, docs); err != nil {
				t.Fatal(err)
			}
			c.Database(src).Collection("events").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "n", Value: 1}}, Options: options.Index().SetUnique(true)})
			c.Database(dst).Collection("stale").InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
			push := e.task(config.ActionPush, src, backend)
			push.DBMS, push.DatabaseHostname = dbms, e.mongo.Addr
			pull := push
			pull.Name, pull.Action, pull.Database, pull.SourceDatabase = "pull_"+dst, config.ActionPull, dst, src
			return push, pull
		},
		compare: func(t *testing.T, e *env, backend string) {
			want, got := e.mongoSnapshot(t, prefix+"src_"+backend), e.mongoSnapshot(t, prefix+"dst_"+backend)
			if len(want) != 1 || fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("source collections %d, copy %d; equal %v", len(want), len(got), fmt.Sprint(want) == fmt.Sprint(got))
			}
		},
	}
}

func (e *env) mongoClient(t *testing.T) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(context.Background(), options.Client().ApplyURI(e.mongo.URI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c
}

// mongoSnapshot is each user collection's documents (raw BSON by _id) and
// indexes.
func (e *env) mongoSnapshot(t *testing.T, db string) map[string]string {
	t.Helper()
	ctx := context.Background()
	d := e.mongoClient(t).Database(db)
	names, err := d.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(n, "envsync.") {
			continue
		}
		cur, err := d.Collection(n).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for cur.Next(ctx) {
			b.Write(cur.Current)
		}
		cur.Close(ctx)
		specs, _ := d.Collection(n).Indexes().ListSpecifications(ctx)
		var idx []string
		for _, s := range specs {
			idx = append(idx, s.Name)
		}
		out[n] = fmt.Sprintf("%d bytes %x %v", b.Len(), sha256.Sum256([]byte(b.String())), idx)
	}
	return out
}

func (e *env) mysql(t *testing.T, db string) *sql.DB {
	t.Helper()
	c, err := e.mdb.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// mysqlRows digests every table and view of db.
func (e *env) mysqlRows(t *testing.T, db string) map[string]string {
	t.Helper()
	c := e.mysql(t, db)
	out := map[string]string{}
	for _, q := range []string{
		"SELECT CONCAT('customers ', COUNT(*), ' ', MD5(GROUP_CONCAT(id, email, HEX(photo) ORDER BY id))) FROM customers",
		"SELECT CONCAT('orders ', COUNT(*), ' ', MD5(GROUP_CONCAT(id, customer_id, total ORDER BY id))) FROM orders",
		"SELECT CONCAT('totals ', COUNT(*), ' ', MD5(GROUP_CONCAT(customer_id, total ORDER BY customer_id))) FROM totals",
	} {
		var v string
		if err := c.QueryRow(q).Scan(&v); err != nil {
			t.Fatalf("%s: %s: %v", db, q, err)
		}
		out[v[:strings.Index(v, " ")]] = v
	}
	var stale int
	c.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'stale'", db).Scan(&stale)
	if stale != 0 {
		t.Errorf("%s: a table only in the old target survived", db)
	}
	return out
}

// fixture is one engine's side of the pair test: a source to push, a
// target to pull into, and a comparison of the two.
type fixture struct {
	prepare func(t *testing.T, e *env, backend string) (push, pull config.Task)
	compare func(t *testing.T, e *env, backend string)
}

var fixtures = map[string]fixture{
	"elasticsearch": {
		prepare: func(t *testing.T, e *env, backend string) (config.Task, config.Task) {
			src := esdouble.Start(t)
			dst := src // es_snapshot restores from the cluster's own repository
			if backend != "es_snapshot" {
				dst = esdouble.Start(t)
			}
			e.es[backend] = [2]*esdouble.Double{src, dst}
			src.Call(t, "PUT", "/shop-orders", `{"mappings":{"properties":{"total":{"type":"double"}}}}`)
			var bulk strings.Builder
			for i := 0; i < 1200; i++ {
				fmt.Fprintf(&bulk, "{\"index\":{\"_id\":\"%d\"}}\n{\"total\":%d,\"who\":\"u%d@example.org\"}\n", i, i, i)
			}
			src.Call(t, "POST", "/shop-orders/_bulk", bulk.String())
			src.Call(t, "POST", "/_aliases", `{"actions":[{"add":{"index":"shop-orders","alias":"orders-now"}}]}`)
			e.esWant[backend], _ = src.Index("shop-orders") // before a pull in place replaces it
			if backend != "es_snapshot" {
				dst.Call(t, "PUT", "/shop-orders", `{}`)
				dst.Call(t, "POST", "/shop-orders/_bulk", "{\"index\":{\"_id\":\"stale\"}}\n{\"old\":true}\n")
				dst.Call(t, "PUT", "/unrelated", `{}`)
			}
			push := e.task(config.ActionPush, "es_"+strings.ReplaceAll(backend, "_", ""), backend)
			push.DBMS, push.Indices, push.DatabaseHostname = "elasticsearch", "shop-*", strings.TrimPrefix(src.URL, "http://")
			if backend == "es_snapshot" {
				push.URL, push.Path = "backups", "srv/snapshots"
			}
			pull := push
			pull.Name, pull.Action, pull.Indices, pull.DatabaseHostname = "pull_es_"+backend, config.ActionPull, "", strings.TrimPrefix(dst.URL, "http://")
			return push, pull
		},
		compare: func(t *testing.T, e *env, backend string) {
			dst := e.es[backend][1]
			want := e.esWant[backend]
			aliases := dst.Aliases()
			if len(aliases["shop-orders"]) != 1 || fmt.Sprint(aliases["orders-now"]) != fmt.Sprint(aliases["shop-orders"]) {
				t.Fatalf("aliases after the pull: %v", aliases)
			}
			got, _ := dst.Index(aliases["shop-orders"][0])
			if len(want) != 1200 || fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("documents: source %d, copy %d, equal %v", len(want), len(got), fmt.Sprint(want) == fmt.Sprint(got))
			}
			if backend != "es_snapshot" {
				if _, ok := dst.Index("unrelated"); !ok {
					t.Error("an index outside the dump is gone")
				}
			}
			for _, r := range dst.Requests() {
				if strings.HasPrefix(r, "DELETE /_all") {
					t.Errorf("sent %s", r)
				}
			}
		},
	},
	"mongo":      mongoFixture("mongo", "m_"),
	"documentdb": mongoFixture("documentdb", "d_"),
	"mysql": {
		prepare: func(t *testing.T, e *env, backend string) (config.Task, config.Task) {
			admin := e.mysql(t, "")
			src, dst := "my_src_"+backend, "my_dst_"+backend
			mustExec(t, admin, "CREATE DATABASE "+src, "CREATE DATABASE "+dst)
			mustExec(t, e.mysql(t, src),
				"CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(100), photo BLOB)",
				"CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT, total DECIMAL(10,2), FOREIGN KEY (customer_id) REFERENCES customers(id))",
				"CREATE VIEW totals AS SELECT customer_id, SUM(total) AS total FROM orders GROUP BY customer_id",
				"INSERT INTO customers (email, photo) SELECT CONCAT('u', seq, '@example.org'), UNHEX(MD5(seq)) FROM seq_1_to_200",
				"INSERT INTO orders (customer_id, total) SELECT 1 + seq % 200, seq / 3 FROM seq_1_to_500")
			mustExec(t, e.mysql(t, dst), "CREATE TABLE stale (id INT)")
			push := e.task(config.ActionPush, src, backend)
			push.DBMS, push.DatabaseHostname = "mysql", e.mdb.Addr()
			pull := push
			pull.Name, pull.Action, pull.Database, pull.SourceDatabase = "pull_"+dst, config.ActionPull, dst, src
			return push, pull
		},
		compare: func(t *testing.T, e *env, backend string) {
			want, got := e.mysqlRows(t, "my_src_"+backend), e.mysqlRows(t, "my_dst_"+backend)
			if len(want) != 3 || fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("source %v\ncopy   %v", want, got)
			}
		},
	},
	"postgresql": {
		prepare: func(t *testing.T, e *env, backend string) (config.Task, config.Task) {
			e.createShop("pg_src_" + backend)
			e.exec("postgres", "CREATE DATABASE pg_dst_"+backend)
			pull := e.task(config.ActionPull, "pg_dst_"+backend, backend)
			pull.SourceDatabase = "pg_src_" + backend
			return e.task(config.ActionPush, "pg_src_"+backend, backend), pull
		},
		compare: func(t *testing.T, e *env, backend string) {
			sameRows(t, e.rows("pg_src_"+backend), e.rows("pg_dst_"+backend))
		},
	},
	"files": {
		prepare: func(t *testing.T, e *env, backend string) (config.Task, config.Task) {
			root := filepath.Join(e.fileDir, "trees-"+backend)
			src := filepath.Join(root, "src")
			os.MkdirAll(filepath.Join(src, "uploads/2026/11"), 0o755)
			os.WriteFile(filepath.Join(src, "uploads/2026/11/report.pdf"), []byte("%PDF-1.4 binary\x00\xff"), 0o640)
			os.WriteFile(filepath.Join(src, "index.html"), []byte("<h1>hi</h1>"), 0o644)
			os.Symlink("uploads/2026/11/report.pdf", filepath.Join(src, "latest.pdf"))
			dst := filepath.Join(root, "dst")
			os.MkdirAll(dst, 0o755)
			os.WriteFile(filepath.Join(dst, "stale.txt"), []byte("old"), 0o644)
			push := e.task(config.ActionPush, "assets_"+backend, backend)
			push.DBMS, push.Directory, push.DatabaseHostname = "files", src, ""
			pull := push
			pull.Name, pull.Action, pull.Directory = "pull_assets", config.ActionPull, dst
			return push, pull
		},
		compare: func(t *testing.T, e *env, backend string) {
			root := filepath.Join(e.fileDir, "trees-"+backend)
			want, got := walk(t, filepath.Join(root, "src")), walk(t, filepath.Join(root, "dst"))
			if len(want) == 0 {
				t.Fatal("empty source tree proves nothing")
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: source %q, restored %q", k, v, got[k])
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s only in the restored tree", k)
				}
			}
		},
	},
}

func walk(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := os.Lstat(p)
		switch {
		case rel == ".":
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		case fi.IsDir():
			out[rel] = fi.Mode().String()
		default:
			b, _ := os.ReadFile(p)
			out[rel] = fi.Mode().String() + " " + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Every legal engine and store pair: push, then pull into another target,
// then compare the two.
func TestEveryEngineAndStorePair(t *testing.T) {
	sshd := testenv.StartSSHD(t)
	// Dumps through rsync are encrypted, so every engine (and, with
	// TestEncryptedDumpRoundTrip's file and s3, every store) is proven
	// with encryption too.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, true, worker.Options{Activities: activities.Config{SSHIdentity: sshd.Identity, SSHKnownHosts: sshd.KnownHosts,
		AgeIdentities: []age.Identity{id}}})
	e.sshd = sshd
	e.mdb = testenv.StartMariaDB(t)
	e.mongo = testenv.StartMongo(t)
	e.es = map[string][2]*esdouble.Double{}
	e.esWant = map[string]map[string]string{}
	for _, dbms := range config.Engines() {
		fx, ok := fixtures[dbms]
		if !ok {
			t.Errorf("engine %s has no fixture in this test", dbms)
			continue
		}
		for _, backend := range config.Backends(dbms) {
			t.Run(dbms+"/"+backend, func(t *testing.T) {
				push, pull := fx.prepare(t, e, backend)
				if backend == "rsync" {
					push.EncryptTo = []string{id.Recipient().String()}
				}
				pushed := e.mustRunT(t, starter.Request{Task: push})
				if backend == "rsync" {
					e.assertEncrypted(t, pushed.Push.Key)
				}
				pulled := e.mustRunT(t, starter.Request{Task: pull})
				if pulled.Pull.Key != pushed.Push.Key {
					t.Errorf("pulled %s, pushed %s", pulled.Pull.Key, pushed.Push.Key)
				}
				fx.compare(t, e, backend)
				// Every engine that counts verified the copy against the
				// push's counts; a tree of files and a server's own
				// snapshot are not counted.
				v, c := pulled.Pull.Verified, pushed.Push.Counted
				switch {
				case dbms == "files":
					if v == nil || !strings.Contains(v.Skipped, "does not count") {
						t.Errorf("verified %+v, want skipped: the engine does not count", v)
					}
				case backend == "es_snapshot":
					if v != nil || c != nil {
						t.Errorf("a native snapshot was counted (%+v) or verified (%+v)", c, v)
					}
				case v == nil || c == nil || v.Skipped != "" || v.Tables == 0 || v.Tables != c.Tables || v.Rows != c.Rows || !v.Exact:
					t.Errorf("push counted %+v, pull verified %+v: want the same non-empty exact counts", c, v)
				}
				if dbms == "files" && backend == "file" {
					byHand := filepath.Join(t.TempDir(), "by-hand")
					os.MkdirAll(byHand, 0o755)
					if out, err := exec.Command("sh", "-c", fmt.Sprintf("zstd -dc %q | tar -x -C %q", filepath.Join(e.fileDir, pushed.Push.Key), byHand)).CombinedOutput(); err != nil {
						t.Fatalf("zstd -dc | tar -x: %v: %s", err, out)
					}
					if want, got := walk(t, filepath.Join(e.fileDir, "trees-file", "src")), walk(t, byHand); fmt.Sprint(want) != fmt.Sprint(got) {
						t.Errorf("extracted by hand: %v, source %v", got, want)
					}
				}
				if dbms == "mysql" && backend == "file" {
					// The README's manual restore works on what envsync wrote.
					mustExec(t, e.mysql(t, ""), "CREATE DATABASE by_hand")
					cmd := exec.Command("sh", "-c", fmt.Sprintf("zstd -dc %q | mysql --protocol=tcp -h %s -P %d -u root by_hand",
						filepath.Join(e.fileDir, pushed.Push.Key), e.mdb.Host, e.mdb.Port))
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("zstd -dc | mysql: %v: %s", err, out)
					}
					if want, got := e.mysqlRows(t, "my_src_file"), e.mysqlRows(t, "by_hand"); fmt.Sprint(want) != fmt.Sprint(got) {
						t.Errorf("restored by hand: %v, source %v", got, want)
					}
				}
			})
		}
	}
}

// assertEncrypted checks that the dump at key in the rsync store (a path
// under the sshd's root) is age ciphertext and its manifest says so.
func (e *env) assertEncrypted(t *testing.T, key string) {
	t.Helper()
	data, err := os.ReadFile("/" + key)
	if err != nil {
		t.Fatalf("dump %s not in the rsync store: %v", key, err)
	}
	if !bytes.HasPrefix(data, []byte("age-encryption.org/v1")) {
		t.Errorf("stored dump is not age ciphertext (starts %q)", data[:min(40, len(data))])
	}
	man, err := os.ReadFile("/" + dump.ManifestKey(key))
	if err != nil {
		t.Fatal(err)
	}
	var m dump.Manifest
	if err := json.Unmarshal(man, &m); err != nil || m.Encrypted == nil || len(m.Encrypted.Recipients) != 1 {
		t.Errorf("manifest encryption %+v (%v), want one recipient", m.Encrypted, err)
	}
}
