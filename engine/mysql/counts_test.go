package mysql_test

import (
	"bytes"
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/mysql"
	"github.com/envsync/envsync/internal/testenv"
)

// The counts a dump records are the rows mysqldump dumped, while a writer
// keeps inserting: they are counted in its output as it passes. Excluded
// tables and views are not counted; the restored copy counts the same.
func TestDumpCountsMysqldumpsSnapshot(t *testing.T) {
	s := testenv.StartMariaDB(t)
	ctx := context.Background()
	exec(t, open(t, s, ""), "CREATE DATABASE shop")
	exec(t, open(t, s, "shop"), schema...)

	writer := open(t, s, "shop")
	var wrote atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := writer.Exec("INSERT INTO audit (what) VALUES ('during the dump')"); err != nil {
				t.Error(err)
				return
			}
			wrote.Add(1)
		}
	}()
	target := engine.Target{Database: "shop", Host: s.Host, Port: s.Port}
	var out bytes.Buffer
	var info engine.DumpInfo
	var err error
	for range 3 { // several dumps, so some start with the writer mid-flight
		out.Reset()
		if info, err = mysql.New(target, []string{"sessions"}, mysql.Options{Count: true}).Dump(ctx, &out); err != nil {
			break
		}
	}
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if wrote.Load() == 0 {
		t.Fatal("the writer wrote nothing while the dumps ran: the test proves nothing")
	}
	c := info.Counts
	if c == nil || !c.Exact || c.Of != "table" {
		t.Fatalf("counts %+v, want exact table counts", c)
	}
	if _, ok := c.Tables["sessions"]; ok || c.Tables["customers"] != 300 || c.Tables["orders"] != 1000 || len(c.Tables) != 3 {
		t.Errorf("counted %v: want customers, orders and audit, without the excluded sessions or the view", c.Tables)
	}

	e := mysql.New(target, nil, mysql.Options{})
	staging := "shop" + engine.StagingMarker + "0001"
	if _, err := e.Restore(ctx, &out, staging, dump.Origin{}); err != nil {
		t.Fatal(err)
	}
	got, err := e.Count(ctx, staging)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Compare(got); len(d) != 0 {
		t.Errorf("restored copy differs from the counts: %s", dump.Describe(d, 5))
	}
	live, _ := e.Count(ctx, "shop")
	if maps.Equal(live, got) {
		t.Error("the live schema equals the dump although the writer went on: the test proves nothing")
	}
}

// Rows whose values hold quotes, backslashes, parentheses, semicolons,
// newlines and binary bytes, and a long value full of escapes, are counted
// from mysqldump's own output as count(*) counts them; an INSERT inside a
// trigger is not a row, and a MERGE table, whose rows live in its parts, is
// not counted.
func TestCountsReadTrickyValues(t *testing.T) {
	s := testenv.StartMariaDB(t)
	ctx := context.Background()
	exec(t, open(t, s, ""), "CREATE DATABASE tricky")
	db := open(t, s, "tricky")
	exec(t, db,
		"CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, s TEXT, b BLOB) ENGINE=InnoDB",
		"CREATE TABLE empty (id INT) ENGINE=InnoDB",
		"CREATE TABLE log (what TEXT) ENGINE=MyISAM",
		"CREATE TRIGGER t_log AFTER INSERT ON t FOR EACH ROW\nINSERT INTO log VALUES ('(a row);')",
		"CREATE TABLE m1 (id INT) ENGINE=MyISAM", "CREATE TABLE m2 (id INT) ENGINE=MyISAM",
		"INSERT INTO m1 VALUES (1), (2)", "INSERT INTO m2 VALUES (3)",
		"CREATE TABLE m_all (id INT) ENGINE=MERGE UNION=(m1, m2)",
	)
	for _, v := range []string{"it's", `back\slash`, "semi;colon", "paren(s)", "quote''d", "new\nline", "tab\tand);", `\`, "", "(", ")"} {
		if _, err := db.Exec("INSERT INTO t (s, b) VALUES (?, UNHEX('275C28293B0A00'))", v); err != nil {
			t.Fatal(err)
		}
	}
	exec(t, db, "INSERT INTO t (s) VALUES (REPEAT('a\\\\''(;', 10000)), (NULL)")
	var out bytes.Buffer
	info, err := mysql.New(engine.Target{Database: "tricky", Host: s.Host, Port: s.Port}, nil, mysql.Options{Count: true}).Dump(ctx, &out)
	if err != nil {
		t.Fatal(err)
	}
	// The MERGE table's rows are its parts': the dump holds none of its own.
	want := map[string]int64{"t": 13, "empty": 0, "log": 13, "m1": 2, "m2": 1}
	if c := info.Counts; c == nil || !c.Exact || c.Note != "" || !maps.Equal(c.Tables, want) {
		t.Fatalf("counts %+v, want exact %v", c, want)
	}
}

// A stream the counter cannot follow (here: a mysqldump that stops inside
// an INSERT's rows) still makes a dump, and the tables are counted after
// it, the counts saying they are not the dump's own.
func TestCountsFallBackWhenTheStreamCannotBeRead(t *testing.T) {
	s := testenv.StartMariaDB(t)
	ctx := context.Background()
	exec(t, open(t, s, ""), "CREATE DATABASE cut")
	exec(t, open(t, s, "cut"), "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB", "INSERT INTO t VALUES (1), (2)")
	bin := t.TempDir()
	fake := "#!/bin/sh\nprintf 'CREATE TABLE `t` (\\n  `id` int\\n);\\nINSERT INTO `t` VALUES (1),(2'\n"
	if err := os.WriteFile(filepath.Join(bin, "mysqldump"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	info, err := mysql.New(engine.Target{Database: "cut", Host: s.Host, Port: s.Port}, nil, mysql.Options{BinDir: bin, Count: true}).Dump(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := info.Counts
	if c == nil || c.Exact || !strings.Contains(c.Note, "ended inside the rows of t") || c.Tables["t"] != 2 {
		t.Fatalf("counts %+v: want the table counted after the dump, not exact, saying why", c)
	}
}
