package sqlrules

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/envsync/envsync/engine/sanitise"
)

// The statement and arguments every dialect gets for every transformer,
// written out so the compiler and its expectation cannot share a mistake.
// A new dialect is one more entry in dialects and one more column in cases.
func TestCompileEachTransformer(t *testing.T) {
	dialects := []Dialect{PostgreSQL, MySQL}
	cases := []struct {
		rule sanitise.Rule
		args []any
		sql  map[string]string // by dialect name
	}{
		{
			rule: sanitise.Rule{Column: "email", Kind: "null"},
			sql: map[string]string{
				"postgresql": `UPDATE "users" SET "email" = NULL WHERE "email" IS NOT NULL`,
				"mysql":      "UPDATE `users` SET `email` = NULL WHERE `email` IS NOT NULL",
			},
		},
		{
			rule: sanitise.Rule{Column: "email", Kind: "fixed", Value: `x'; --`},
			args: []any{`x'; --`},
			sql: map[string]string{
				"postgresql": `UPDATE "users" SET "email" = $1 WHERE "email" IS NOT NULL`,
				"mysql":      "UPDATE `users` SET `email` = ? WHERE `email` IS NOT NULL",
			},
		},
		{
			rule: sanitise.Rule{Column: "email", Kind: "email"},
			sql: map[string]string{
				"postgresql": `UPDATE "users" AS t SET "email" = 'anonymous-' || d.n || '@example.com' FROM ` +
					`(SELECT v, row_number() OVER (ORDER BY v) AS n FROM (SELECT DISTINCT "email"::text AS v FROM "users" WHERE "email" IS NOT NULL) s) d ` +
					`WHERE t."email"::text = d.v`,
				"mysql": "UPDATE `users` AS t JOIN (SELECT v, ROW_NUMBER() OVER (ORDER BY v) AS n FROM (SELECT DISTINCT `email` AS v FROM `users`" +
					" WHERE `email` IS NOT NULL) s) d ON t.`email` = d.v SET t.`email` = CONCAT('anonymous-', d.n, '@example.com')",
			},
		},
		{
			rule: sanitise.Rule{Column: "email", Kind: "hash"},
			args: []any{"the-key-of-16-chars"},
			sql: map[string]string{
				"postgresql": `UPDATE "users" SET "email" = encode(sha256(convert_to($1 || ':' || "email"::text, 'UTF8')), 'hex') WHERE "email" IS NOT NULL`,
				"mysql":      "UPDATE `users` SET `email` = SHA2(CONCAT(?, ':', `email`), 256) WHERE `email` IS NOT NULL",
			},
		},
		{
			rule: sanitise.Rule{Column: "email", Kind: "lorem"},
			sql: map[string]string{
				"postgresql": `UPDATE "users" SET "email" = left(repeat('lorem ipsum dolor sit amet ', char_length("email"::text) / 27 + 1), char_length("email"::text)) WHERE "email" IS NOT NULL`,
				"mysql":      "UPDATE `users` SET `email` = LEFT(REPEAT('lorem ipsum dolor sit amet ', FLOOR(CHAR_LENGTH(`email`) / 27) + 1), CHAR_LENGTH(`email`)) WHERE `email` IS NOT NULL",
			},
		},
		{
			rule: sanitise.Rule{Column: "email", Kind: "redact", Pattern: `[0-9]+`},
			args: []any{`[0-9]+`},
			sql: map[string]string{
				"postgresql": `UPDATE "users" SET "email" = regexp_replace("email", $1, '[redacted]', 'g') WHERE "email" IS NOT NULL`,
				"mysql":      "UPDATE `users` SET `email` = REGEXP_REPLACE(`email`, ?, '[redacted]') WHERE `email` IS NOT NULL",
			},
		},
		{
			rule: sanitise.Rule{Column: "email", Kind: "rewrite", From: "$1", To: "?"},
			args: []any{"$1", "?"},
			sql: map[string]string{
				"postgresql": `UPDATE "users" SET "email" = replace("email", $1, $2) WHERE "email" IS NOT NULL`,
				"mysql":      "UPDATE `users` SET `email` = REPLACE(`email`, ?, ?) WHERE `email` IS NOT NULL",
			},
		},
	}
	for _, d := range dialects {
		for _, c := range cases {
			t.Run(d.Name+"/"+c.rule.Kind, func(t *testing.T) {
				want, ok := c.sql[d.Name]
				if !ok {
					t.Fatalf("no expected SQL for dialect %s", d.Name)
				}
				got, err := Compile(d, []sanitise.Target{{Name: "users", Rules: []sanitise.Rule{c.rule}}}, "the-key-of-16-chars")
				if err != nil {
					t.Fatal(err)
				}
				wantStmt := Statement{Rule: "users.email", Kind: c.rule.Kind, SQL: want, Args: c.args}
				if len(got) != 1 || !reflect.DeepEqual(got[0], wantStmt) {
					t.Errorf("got  %#v\nwant %#v", got, []Statement{wantStmt})
				}
			})
		}
	}
	// Every transformer has a case, so a new one cannot go untested.
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.rule.Kind] = true
	}
	for _, k := range sanitise.Transformers {
		if !covered[k] {
			t.Errorf("transformer %s has no case", k)
		}
	}
}

// A table's delete comes before its column rules, tables stay in file
// order, and each statement carries the key its rows are reported under.
func TestCompileOrderAndNames(t *testing.T) {
	tables := []sanitise.Target{
		{Name: "public.users", DeleteWhere: "id > 10 OR admin", Rules: []sanitise.Rule{{Column: "name", Kind: "null"}, {Column: "email", Kind: "lorem"}}},
		{Name: "orders", Rules: []sanitise.Rule{{Column: "note", Kind: "fixed", Value: "-"}}},
	}
	for _, c := range []struct {
		d     Dialect
		table string
	}{
		{PostgreSQL, `"public"."users"`},
		{MySQL, "`public.users`"},
	} {
		got, err := Compile(c.d, tables, "")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range got {
			names = append(names, s.String())
		}
		if want := []string{"public.users.delete_where", "public.users.name (null)", "public.users.email (lorem)", "orders.note (fixed)"}; !slices.Equal(names, want) {
			t.Errorf("%s: statements %q, want %q", c.d.Name, names, want)
		}
		if want := "DELETE FROM " + c.table + " WHERE (id > 10 OR admin)"; got[0].SQL != want || got[0].Args != nil {
			t.Errorf("%s: delete %q %v, want %q", c.d.Name, got[0].SQL, got[0].Args, want)
		}
		if !strings.HasPrefix(got[1].SQL, "UPDATE "+c.table+" SET ") {
			t.Errorf("%s: update %q does not name %s", c.d.Name, got[1].SQL, c.table)
		}
	}
}

// The hash without a key is refused before any statement exists, naming
// the rule and what to set; so is a transformer no dialect knows.
func TestCompileRefuses(t *testing.T) {
	for _, c := range []struct {
		rule sanitise.Rule
		want string
	}{
		{sanitise.Rule{Column: "email", Kind: "hash"}, "rule users.email: the hash transformer needs ENVSYNC_HASH_KEY"},
		{sanitise.Rule{Column: "email", Kind: "shuffle"}, `rule users.email: unknown transformer "shuffle"`},
	} {
		for _, d := range []Dialect{PostgreSQL, MySQL} {
			got, err := Compile(d, []sanitise.Target{{Name: "users", Rules: []sanitise.Rule{c.rule}}}, "")
			if err == nil || !strings.Contains(err.Error(), c.want) || got != nil {
				t.Errorf("%s %s: %v, %v; want %q", d.Name, c.rule.Kind, got, err, c.want)
			}
		}
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

// With ? placeholders arguments bind in text order, so a template must
// use {1} once, before {2} once: guard every dialect's entries.
func TestTemplatesBindInOrder(t *testing.T) {
	for _, d := range []Dialect{PostgreSQL, MySQL} {
		for name, c := range map[string]struct {
			tmpl string
			args int
		}{"hash": {d.Hash, 1}, "lorem": {d.Lorem, 0}, "redact": {d.Redact, 1}, "rewrite": {d.Rewrite, 2}, "email": {d.Email, 0}} {
			last := -1
			for n := 1; n <= 2; n++ {
				p := "{" + string(rune('0'+n)) + "}"
				count, at := strings.Count(c.tmpl, p), strings.Index(c.tmpl, p)
				switch {
				case n <= c.args && (count != 1 || at < last):
					t.Errorf("%s %s: %s must appear once, after the arguments before it: %s", d.Name, name, p, c.tmpl)
				case n > c.args && count != 0:
					t.Errorf("%s %s: %s names no argument: %s", d.Name, name, p, c.tmpl)
				}
				last = at
			}
		}
	}
}
