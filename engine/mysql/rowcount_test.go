package mysql

import (
	"errors"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/engine/sanitise"
)

// The counter finds the same rows however mysqldump's output is cut into
// writes: one byte at a time splits every escape, quote and header.
func TestRowCounterAcrossWrites(t *testing.T) {
	dump := strings.Join([]string{
		"-- MariaDB dump",
		"CREATE TABLE `a``b` (",
		"  `id` int(11) NOT NULL,",
		"  `s` text",
		");",
		"INSERT INTO `a``b` VALUES (1,'it\\'s'),(2,'back\\\\'),(3,'semi;colon)('),(4,NULL),(5,0x27285C),(6,'x''y');",
		"INSERT INTO `a``b` VALUES",
		"(7,'new\\nline'),",
		"(8,'\\\\\\'');",
		"CREATE TABLE `empty` (",
		"  `id` int(11)",
		");",
		"/*!50001 CREATE TABLE `v` (",
		"  `id` tinyint NOT NULL",
		") */;",
		"DELIMITER ;;",
		"INSERT INTO `a``b` VALUES (99,'a trigger body, not a row');;",
		"CREATE TABLE `made_by_a_procedure` (id int);;",
		"DELIMITER ;",
		"INSERT INTO `empty` VALUES ();",
		"",
	}, "\n")
	want := map[string]int64{"a`b": 8, "empty": 1}
	for _, chunk := range []int{1, 2, 3, 5, 7, 4096} {
		c := newRowCounter(io.Discard)
		for p := dump; len(p) > 0; {
			n := min(chunk, len(p))
			if _, err := c.Write([]byte(p[:n])); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		got, err := c.result()
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("chunks of %d: %v (%v), want %v", chunk, got, err, want)
		}
	}
	c := newRowCounter(io.Discard)
	c.Write([]byte("INSERT INTO `t` VALUES (1,'open"))
	if _, err := c.result(); err == nil || !strings.Contains(err.Error(), "ended inside the rows of t") {
		t.Errorf("a dump cut inside a string: %v", err)
	}
}

// BenchmarkRowCounter is the MySQL counter alone on INSERTs like
// mysqldump's: MB/s of dump on one core.
//
//	go test -run - -bench RowCounter -cpu 1 ./engine/mysql
func BenchmarkRowCounter(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("CREATE TABLE `people` (\n  `id` int\n);\n")
	for s := 0; s < 200; s++ {
		sb.WriteString("INSERT INTO `people` VALUES ")
		for i := range 500 {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(12345,'person12345@example.org','Olivia O\\'Brien','07700 900123',0x5CA1AB1E,NULL,'2021-03-04 10:00:00','a note of some length, with (parentheses); and a backslash \\\\ in it')")
		}
		sb.WriteString(";\n")
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	for range b.N {
		c := newRowCounter(io.Discard)
		for p := data; len(p) > 0; {
			n := min(64<<10, len(p))
			c.Write(p[:n])
			p = p[n:]
		}
		if got, err := c.result(); err != nil || got["people"] != 100000 {
			b.Fatal(got, err)
		}
	}
}

// A dump with rows in a form the sanitiser does not read (INSERT IGNORE,
// REPLACE: a my.cnf setting where it was taken) fails the plan: those rows
// would otherwise pass unsanitised.
func TestSanitiserRefusesOtherInsertForms(t *testing.T) {
	for _, stmt := range []string{"INSERT IGNORE INTO `t` VALUES (1,'a@b.example');", "REPLACE INTO `t` VALUES (1,'a@b.example');"} {
		r, err := sanitise.Parse("rules.yaml", []byte("tables:\n  t:\n    id: keep\n    email: email\n"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := sanitise.NewPlan(r, "a-test-key-of-some-length", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		err = newSanitiser(p, &out).run(strings.NewReader("CREATE TABLE `t` (\n  `id` int,\n  `email` varchar(100)\n);\n" + stmt + "\n"))
		var pe *sanitise.PlanError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "INSERT IGNORE or REPLACE") || strings.Contains(out.String(), "a@b.example") {
			t.Errorf("%s: error %v, wrote %q", stmt, err, out.String())
		}
	}
}
