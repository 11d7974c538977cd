// Package sqlrules compiles what of a rule set runs on a restored SQL copy
// rather than in the stream (sanitise.Rules.Residual): one DELETE per
// delete_where whose condition is free SQL, in file order. Column rules are
// applied to the rows as they stream in (sanitise.Plan), never here. What
// differs between servers (quoting) is a Dialect.
//
// Names are spliced in quoted; sanitise.Parse has already refused any that
// are not plain identifiers, and conditions without ; or comments.
package sqlrules

import (
	"fmt"
	"strings"

	"github.com/envsync/envsync/engine/sanitise"
)

// Dialect is what one SQL dialect writes differently.
type Dialect struct {
	Name string
	// Quote is the identifier quote; a quote inside a name is doubled.
	Quote string
	// SchemaDot says a dot in a table name separates schema and table
	// (public.users); without it the whole name is one identifier.
	SchemaDot bool
}

// PostgreSQL is the dialect of PostgreSQL.
var PostgreSQL = Dialect{Name: "postgresql", Quote: `"`, SchemaDot: true}

// MySQL is the dialect of MySQL and MariaDB. A table name is one
// identifier: the engine works inside the staging schema.
var MySQL = Dialect{Name: "mysql", Quote: "`"}

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

// Statement is one compiled rule.
type Statement struct {
	// Rule is table.delete_where: the key of the rows it removed in the
	// engine's report.
	Rule string
	SQL  string
}

// String names the statement in errors.
func (s Statement) String() string { return s.Rule }

// Compile turns the residual tables' deletes into statements, in order. A
// column rule here is a mistake: they are applied in the stream.
func Compile(d Dialect, tables []sanitise.Target) ([]Statement, error) {
	var out []Statement
	for _, t := range tables {
		if len(t.Rules) > 0 {
			return nil, fmt.Errorf("rule %s.%s: column rules are applied to the rows as they stream in, not to the restored copy", t.Name, t.Rules[0].Column)
		}
		if t.DeleteWhere != "" {
			// The condition is the rule author's SQL; sanitise.Parse
			// has refused ; and comments, and the parentheses keep an
			// OR from escaping it.
			out = append(out, Statement{Rule: t.Name + ".delete_where", SQL: "DELETE FROM " + d.Table(t.Name) + " WHERE (" + t.DeleteWhere + ")"})
		}
	}
	return out, nil
}
