package mysql

import (
	"io"
	"strings"
	"testing"
)

// mysqldump's ALTER DATABASE lines lose the source's schema name; nothing
// else changes, however long its lines.
func TestUnnamedAlters(t *testing.T) {
	long := "INSERT INTO t VALUES ('" + strings.Repeat("x", 600<<10) + "\nALTER DATABASE `cs` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;');\n"
	in := "CREATE TABLE t (v TEXT);\n" +
		"ALTER DATABASE `cs` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;\n" +
		"CREATE PROCEDURE p() SELECT 1;\n" +
		"ALTER DATABASE `we``ird` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci ;\r\n" +
		"ALTER DATABASE `cs` COMMENT = 'left alone' ;\n" +
		long + "-- ALTER DATABASE `cs` CHARACTER SET latin1 COLLATE latin1_bin ;\n" +
		"ALTER DATABASE `cs` CHARACTER SET latin1 COLLATE latin1_bin ;"
	want := "CREATE TABLE t (v TEXT);\n" +
		"ALTER DATABASE CHARACTER SET latin1 COLLATE latin1_swedish_ci ;\n" +
		"CREATE PROCEDURE p() SELECT 1;\n" +
		"ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci ;\r\n" +
		"ALTER DATABASE `cs` COMMENT = 'left alone' ;\n" +
		long + "-- ALTER DATABASE `cs` CHARACTER SET latin1 COLLATE latin1_bin ;\n" +
		"ALTER DATABASE `cs` CHARACTER SET latin1 COLLATE latin1_bin ;" // no newline: not a whole line
	got, err := io.ReadAll(newUnnamedAlters(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got %d bytes, want %d; first difference at %d", len(got), len(want), firstDiff(string(got), want))
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
