package mysql_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/mysql"
	"github.com/envsync/envsync/internal/testenv"
)

// A pull into a server that lacks the schema creates it with the source's
// character set and collation, which the dump records in its manifest,
// rather than the server's default; a collation this server lacks falls
// back to the default and says so.
func TestNewSchemaKeepsSourceCharset(t *testing.T) {
	s := testenv.StartMariaDB(t)
	ctx := context.Background()
	admin := open(t, s, "")
	exec(t, admin, "CREATE DATABASE legacy CHARACTER SET latin1 COLLATE latin1_german2_ci")
	exec(t, open(t, s, "legacy"), "CREATE TABLE names (id INT PRIMARY KEY, name VARCHAR(50))", "INSERT INTO names VALUES (1, 'Müller')")

	target := engine.Target{Host: s.Host, Port: s.Port, Database: "legacy"}
	var dumped bytes.Buffer
	info, err := mysql.New(target, nil, mysql.Options{}).Dump(ctx, &dumped)
	if err != nil {
		t.Fatal(err)
	}
	if info.Origin.Charset != "latin1" || info.Origin.Collation != "latin1_german2_ci" {
		t.Fatalf("dump recorded origin %+v; want latin1 / latin1_german2_ci", info.Origin)
	}

	restore := func(t *testing.T, db string, origin dump.Origin) []string {
		t.Helper()
		target.Database = db
		e := mysql.New(target, nil, mysql.Options{})
		notes, err := e.Restore(ctx, bytes.NewReader(dumped.Bytes()), db+"_envsync_1", origin)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Swap(ctx, db+"_envsync_1", "envsync: restored k by run r"); err != nil {
			t.Fatal(err)
		}
		return notes
	}
	charsetOf := func(t *testing.T, db string) string {
		t.Helper()
		var cs, coll string
		if err := admin.QueryRow(`SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, db).Scan(&cs, &coll); err != nil {
			t.Fatal(err)
		}
		return cs + " " + coll
	}
	var serverDefault string
	if err := admin.QueryRow("SELECT CONCAT(@@character_set_server, ' ', @@collation_server)").Scan(&serverDefault); err != nil {
		t.Fatal(err)
	}
	if serverDefault == "latin1 latin1_german2_ci" {
		t.Fatal("the server's default is the source's collation: this test would prove nothing")
	}

	t.Run("known collation", func(t *testing.T) {
		if notes := restore(t, "fresh", info.Origin); len(notes) != 0 {
			t.Errorf("notes %q for a schema that kept its collation", notes)
		}
		if got := charsetOf(t, "fresh"); got != "latin1 latin1_german2_ci" {
			t.Errorf("new schema is %s; want the source's latin1 latin1_german2_ci", got)
		}
	})
	t.Run("unknown collation", func(t *testing.T) {
		notes := restore(t, "other", dump.Origin{Charset: "latin1", Collation: "latin1_klingon_ci"})
		if got := charsetOf(t, "other"); got != serverDefault {
			t.Errorf("new schema is %s; want the server's default %s", got, serverDefault)
		}
		if len(notes) != 1 || !strings.Contains(notes[0], "latin1_klingon_ci") || !strings.Contains(notes[0], "not available here") {
			t.Errorf("notes = %q; want one naming the missing collation", notes)
		}
	})
}
