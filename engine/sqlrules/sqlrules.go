// Package sqlrules compiles a rule set's table rules into SQL for the SQL
// engines: one DELETE per delete_where and one set-based UPDATE per column
// rule, in file order. What differs between servers (quoting, placeholders,
// the functions a transformer calls) is a Dialect, one table entry per
// dialect; which values a transformer binds, and that it leaves NULLs
// alone, is decided here once for all of them.
//
// Values (fixed, the redact pattern, rewrite's from and to, the hash key)
// are always bound arguments, never part of a statement's text, so any
// string arrives as written. Names are spliced in quoted; sanitise.Parse
// has already refused any that are not plain identifiers.
package sqlrules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/envsync/envsync/engine/sanitise"
)

// Dialect is what one SQL dialect writes differently. Templates name their
// parts in braces: {table} and {col} are the quoted table and column, {1}
// and {2} the placeholders of the rule's bound arguments (hash: the key;
// redact: the pattern; rewrite: from, then to). Dialects with positional
// placeholders (?) bind in text order, so {1} must come before {2}.
type Dialect struct {
	Name string
	// Quote is the identifier quote; a quote inside a name is doubled.
	Quote string
	// SchemaDot says a dot in a table name separates schema and table
	// (public.users); without it the whole name is one identifier.
	SchemaDot bool
	// Param is the placeholder of the nth bound argument, from 1.
	Param func(n int) string
	// Hash, Lorem, Redact and Rewrite are the new value of a column.
	Hash, Lorem, Redact, Rewrite string
	// Email is a whole statement: it numbers the distinct values
	// (anonymous-<n>@example.com), so equal addresses stay equal and
	// distinct ones distinct, and that needs a join, which each dialect
	// writes into an UPDATE its own way.
	Email string
}

// PostgreSQL is the dialect of PostgreSQL.
var PostgreSQL = Dialect{
	Name:      "postgresql",
	Quote:     `"`,
	SchemaDot: true,
	Param:     func(n int) string { return "$" + strconv.Itoa(n) },
	Hash:      "encode(sha256(convert_to({1} || ':' || {col}::text, 'UTF8')), 'hex')",
	Lorem:     "left(repeat('lorem ipsum dolor sit amet ', char_length({col}::text) / 27 + 1), char_length({col}::text))",
	Redact:    "regexp_replace({col}, {1}, '[redacted]', 'g')",
	Rewrite:   "replace({col}, {1}, {2})",
	Email: "UPDATE {table} AS t SET {col} = 'anonymous-' || d.n || '@example.com' FROM " +
		"(SELECT v, row_number() OVER (ORDER BY v) AS n FROM (SELECT DISTINCT {col}::text AS v FROM {table} WHERE {col} IS NOT NULL) s) d " +
		"WHERE t.{col}::text = d.v",
}

// MySQL is the dialect of MySQL and MariaDB. A table name is one
// identifier: the engine works inside the staging schema.
var MySQL = Dialect{
	Name:    "mysql",
	Quote:   "`",
	Param:   func(int) string { return "?" },
	Hash:    "SHA2(CONCAT({1}, ':', {col}), 256)",
	Lorem:   "LEFT(REPEAT('lorem ipsum dolor sit amet ', FLOOR(CHAR_LENGTH({col}) / 27) + 1), CHAR_LENGTH({col}))",
	Redact:  "REGEXP_REPLACE({col}, {1}, '[redacted]')",
	Rewrite: "REPLACE({col}, {1}, {2})",
	Email: "UPDATE {table} AS t JOIN (SELECT v, ROW_NUMBER() OVER (ORDER BY v) AS n FROM (SELECT DISTINCT {col} AS v FROM {table}" +
		" WHERE {col} IS NOT NULL) s) d ON t.{col} = d.v SET t.{col} = CONCAT('anonymous-', d.n, '@example.com')",
}

// Ident quotes one identifier.
func (d Dialect) Ident(name string) string {
	return d.Quote + strings.ReplaceAll(name, d.Quote, d.Quote+d.Quote) + d.Quote
}

// Table quotes a table name, schema-qualified where the dialect has
// schemas inside a database.
func (d Dialect) Table(name string) string {
	if !d.SchemaDot {
		return d.Ident(name)
	}
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = d.Ident(p)
	}
	return strings.Join(parts, ".")
}

// fill puts the quoted names and the placeholders into a template. The
// replacer makes one pass, so nothing it puts in is read again.
func (d Dialect) fill(tmpl, table, col string) string {
	return strings.NewReplacer("{table}", table, "{col}", col, "{1}", d.Param(1), "{2}", d.Param(2)).Replace(tmpl)
}

// Statement is one compiled rule.
type Statement struct {
	// Rule is table.column or table.delete_where: the key of the rows it
	// changed in the engine's report.
	Rule string
	// Kind is the column rule's transformer; empty for a delete.
	Kind string
	SQL  string
	Args []any
}

// String names the statement in errors, with its transformer.
func (s Statement) String() string {
	if s.Kind == "" {
		return s.Rule
	}
	return s.Rule + " (" + s.Kind + ")"
}

// Compile turns tables' rules into statements, in order: each table's
// delete_where first, then its column rules. hashKey is bound by the hash
// transformer and needed only if one is used.
func Compile(d Dialect, tables []sanitise.Target, hashKey string) ([]Statement, error) {
	var out []Statement
	for _, t := range tables {
		table := d.Table(t.Name)
		if t.DeleteWhere != "" {
			// The condition is the rule author's SQL; sanitise.Parse
			// has refused ; and comments, and the parentheses keep an
			// OR from escaping it.
			out = append(out, Statement{Rule: t.Name + ".delete_where", SQL: "DELETE FROM " + table + " WHERE (" + t.DeleteWhere + ")"})
		}
		for _, r := range t.Rules {
			sql, args, err := d.update(table, r, hashKey)
			if err != nil {
				return nil, fmt.Errorf("rule %s.%s: %w", t.Name, r.Column, err)
			}
			out = append(out, Statement{Rule: t.Name + "." + r.Column, Kind: r.Kind, SQL: sql, Args: args})
		}
	}
	return out, nil
}

// update compiles one column rule into one set-based UPDATE that leaves
// NULLs as they are.
func (d Dialect) update(table string, r sanitise.Rule, hashKey string) (string, []any, error) {
	var expr string
	var args []any
	switch r.Kind {
	case "null":
		expr = "NULL"
	case "fixed":
		expr, args = "{1}", []any{r.Value}
	case "email":
		return d.fill(d.Email, table, d.Ident(r.Column)), nil, nil
	case "hash":
		if hashKey == "" {
			return "", nil, errors.New("the hash transformer needs ENVSYNC_HASH_KEY (16 characters or more) on the worker")
		}
		expr, args = d.Hash, []any{hashKey}
	case "lorem":
		expr = d.Lorem
	case "redact":
		expr, args = d.Redact, []any{r.Pattern}
	case "rewrite":
		expr, args = d.Rewrite, []any{r.From, r.To}
	default:
		return "", nil, fmt.Errorf("unknown transformer %q; known: %s", r.Kind, strings.Join(sanitise.Transformers, ", "))
	}
	return d.fill("UPDATE {table} SET {col} = "+expr+" WHERE {col} IS NOT NULL", table, d.Ident(r.Column)), args, nil
}
