package sqlrules

import (
	"slices"
	"strings"
	"testing"

	"github.com/envsync/envsync/engine/sanitise"
)

// Deletes come in file order, each carrying the key its rows are reported
// under, the condition in parentheses so an OR cannot escape it.
func TestCompileDeletes(t *testing.T) {
	tables := []sanitise.Target{
		{Name: "public.users", DeleteWhere: "id > 10 OR admin"},
		{Name: "orders"},
		{Name: "audit", DeleteWhere: "created < now() - interval '1 year'"},
	}
	for _, c := range []struct {
		d     Dialect
		table string
	}{
		{PostgreSQL, `"public"."users"`},
		{MySQL, "`public.users`"},
	} {
		got, err := Compile(c.d, tables)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range got {
			names = append(names, s.String())
		}
		if want := []string{"public.users.delete_where", "audit.delete_where"}; !slices.Equal(names, want) {
			t.Errorf("%s: statements %q, want %q", c.d.Name, names, want)
		}
		if want := "DELETE FROM " + c.table + " WHERE (id > 10 OR admin)"; got[0].SQL != want {
			t.Errorf("%s: delete %q, want %q", c.d.Name, got[0].SQL, want)
		}
	}
}

// A column rule never reaches a restored copy: they are the stream's.
func TestCompileRefusesColumnRules(t *testing.T) {
	_, err := Compile(PostgreSQL, []sanitise.Target{{Name: "users", Rules: []sanitise.Rule{{Column: "email", Kind: "email"}}}})
	if err == nil || !strings.Contains(err.Error(), "rule users.email: column rules are applied to the rows as they stream in") {
		t.Errorf("error %v", err)
	}
}

// Names are quoted with the dialect's quote doubled inside, so even a
// name sanitise.Parse would refuse cannot end the identifier.
func TestIdentDoublesQuotes(t *testing.T) {
	if got := PostgreSQL.Table(`a"b.c`); got != `"a""b"."c"` {
		t.Errorf("postgresql: %s", got)
	}
	if got := MySQL.Table("a`b.c"); got != "`a``b.c`" {
		t.Errorf("mysql: %s", got)
	}
}
