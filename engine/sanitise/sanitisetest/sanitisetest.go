// Package sanitisetest is a table every engine's sanitiser must get right
// byte for byte: fixed values, a rewrite and a redact pattern that read like
// SQL, quoting, placeholders, escapes, LIKE wildcards or MongoDB operators.
// Rule values are bound parameters (or computed in Go), so each must arrive
// exactly as written in the rule file.
package sanitisetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/envsync/envsync/engine/sanitise"
)

// Table is the table (collection) the rules name.
const Table = "awkward"

// Values are the fixed values, one per column c0, c1, ...
var Values = []string{
	"Update",
	"Select a plan",
	"Drop-off point",
	"Terms; conditions",
	`it's "quoted"`,
	`x'; DROP TABLE users; --`,
	"$1",
	`back\slash\\n`,
	"%_",
	"NULL",
	"?",
	"/* not a comment */ -- nor this",
	"$set",
	"naïve – ✓",
}

// The rewrite's from and to, and the pattern redact replaces.
const (
	RewriteFrom   = `x'; -- $1 \ %_`
	RewriteTo     = `it's "$2"; /* \n */ ?`
	RedactPattern = `it's [0-9]+;`
)

// rewriteIn and redactIn are the rows' values in the rewrite and redact
// columns: a match, a near miss that only LIKE or an unescaped pattern
// would take for one, and none.
var (
	rewriteIn = []string{`see x'; -- $1 \ %_ here`, `x'; -- $1 \ ab`, `x'; -- $1 \ %_x'; -- $1 \ %_`}
	redactIn  = []string{`call it's 123; now`, `it''s 123;`, `its 123;`}
)

// Columns are the table's text columns, in order: c0... (fixed), r
// (rewrite), p (redact).
func Columns() []string {
	var cols []string
	for i := range Values {
		cols = append(cols, fmt.Sprintf("c%d", i))
	}
	return append(cols, "r", "p")
}

// Before is every row's values before sanitising, in Columns order.
func Before() [][]string {
	var rows [][]string
	for i := range rewriteIn {
		var row []string
		for range Values {
			row = append(row, fmt.Sprintf("original %d", i))
		}
		rows = append(rows, append(row, rewriteIn[i], redactIn[i]))
	}
	return rows
}

// After is what every row must hold afterwards, in Columns order. Written
// out rather than computed, so a transformer and its expectation cannot
// share a mistake.
func After() [][]string {
	r := []string{
		`see it's "$2"; /* \n */ ? here`,
		`x'; -- $1 \ ab`,
		`it's "$2"; /* \n */ ?it's "$2"; /* \n */ ?`,
	}
	p := []string{`call [redacted] now`, `it''s 123;`, `its 123;`}
	var rows [][]string
	for i := range r {
		rows = append(rows, append(append([]string{}, Values...), r[i], p[i]))
	}
	return rows
}

// Rules is the rule set for Table, under section "tables" (SQL) or
// "collections" (MongoDB).
func Rules(t testing.TB, section string) *sanitise.Rules {
	t.Helper()
	// Single-quoted YAML scalars take every character literally but '.
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  %s:\n", section, Table)
	for i, v := range Values {
		fmt.Fprintf(&b, "    c%d: {fixed: %s}\n", i, q(v))
	}
	fmt.Fprintf(&b, "    r: {rewrite: {from: %s, to: %s}}\n", q(RewriteFrom), q(RewriteTo))
	fmt.Fprintf(&b, "    p: {redact: %s}\n", q(RedactPattern))
	r, err := sanitise.Parse("awkward.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("rule set with plain values refused: %v", err)
	}
	return r
}

// Compare reports every value in got (rows in Columns order) that is not
// After's, quoted so that a lost backslash or quote shows.
func Compare(t testing.TB, got [][]string) {
	t.Helper()
	want, cols := After(), Columns()
	if len(got) != len(want) {
		t.Fatalf("%d rows after sanitising, want %d", len(got), len(want))
	}
	for i := range want {
		for j, col := range cols {
			if got[i][j] != want[i][j] {
				t.Errorf("row %d, %s: %q, want %q", i, col, got[i][j], want[i][j])
			}
		}
	}
}
