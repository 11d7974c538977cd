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
	"time"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/mysql"
	"github.com/envsync/envsync/internal/testenv"
)

// The counts a dump records are the rows mysqldump dumped, while a writer
// keeps inserting: the counting session's snapshot is mysqldump's (taken
// under one global read lock). Excluded tables and views are not counted;
// the restored copy counts the same.
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

// A mysqldump that never shows it has begun (here: one that prints
// nothing) does not keep the global read lock: it goes after lockWait, a
// writer waiting on it gets through, and the counts say they are not
// mysqldump's.
func TestReadLockIsReleasedInTime(t *testing.T) {
	s := testenv.StartMariaDB(t)
	ctx := context.Background()
	exec(t, open(t, s, ""), "CREATE DATABASE quiet")
	exec(t, open(t, s, "quiet"), "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB", "INSERT INTO t VALUES (1)")
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "mysqldump"), []byte("#!/bin/sh\nsleep 20\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan time.Time, 1)
	started := time.Now()
	go func() {
		time.Sleep(time.Second) // the lock is taken by then
		if _, err := open(t, s, "quiet").Exec("INSERT INTO t VALUES (2)"); err != nil {
			t.Error(err)
		}
		wrote <- time.Now()
	}()
	info, err := mysql.New(engine.Target{Database: "quiet", Host: s.Host, Port: s.Port}, nil, mysql.Options{BinDir: bin, Count: true}).Dump(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := info.Counts
	if c == nil || c.Exact || !strings.Contains(c.Note, "mysqldump had not begun") {
		t.Fatalf("counts %+v: want inexact, saying mysqldump had not begun", c)
	}
	if at := <-wrote; at.Sub(started) > 17*time.Second {
		t.Errorf("the writer waited %s: the read lock was held until mysqldump ended", at.Sub(started))
	}
}
