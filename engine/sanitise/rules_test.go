package sanitise

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRules(t *testing.T) {
	r, err := Parse("r.yaml", []byte(`
tables:
  users:
    email: email
    name: lorem
    phone: null
    ref: hash
    ssn: {fixed: "000"}
    notes: {redact: '\d{3}-\d{4}'}
    homepage: {rewrite: {from: www.gov.uk, to: www.staging.gov.uk}}
  documents:
    delete_where: access_limited
sql: UPDATE users SET name = 'x';
verify:
  - SELECT id FROM users WHERE email NOT LIKE '%@example.com'
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tables) != 2 || len(r.Tables[0].Rules) != 7 || r.Tables[1].DeleteWhere != "access_limited" || !r.NeedsHashKey() || r.ForMongo() {
		t.Errorf("%+v", r)
	}
}

// Bad rules are refused naming the rule and the reason.
func TestBadRulesRefused(t *testing.T) {
	cases := map[string]string{
		"tables:\n  users:\n    email: scramble\n":                                                `rule users.email: unknown transformer "scramble"`,
		"tables:\n  users:\n    ssn: {fixed: [a, b]}\n":                                           `rule users.ssn: fixed takes one plain value`,
		"tables:\n  users:\n    url: {rewrite: {from: a, to: {b: c}}}\n":                          `rule users.url: rewrite takes {from, to}`,
		"verify:\n  - DELETE FROM users\n":                                                        `rule verify[0]: a verify query must be one SELECT`,
		"tables:\n  users:\n    email: email\nverify:\n  - {collection: users, filter: {a: 1}}\n": `mixes SQL rules`,
		"tables:\n  users:\n    delete_where: \"1=1; DROP TABLE x\"\n":                            `rule users.delete_where: for SQL, delete_where is one condition`,
		"tables:\n  users:\n    fixed_col: fixed\n":                                               `rule users.fixed_col: fixed needs an argument`,
		"colections: {}\n": `not a rule set`,
	}
	for body, want := range cases {
		if _, err := Parse("r.yaml", []byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
	}
}

// The sanitising page's example rule sets must stay valid.
func TestDocsExample(t *testing.T) {
	page, err := os.ReadFile("../../docs/sanitising.md")
	if err != nil {
		t.Fatal(err)
	}
	parsed := 0
	for _, part := range strings.Split(string(page), "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		if !strings.Contains(block, "\ntables:") && !strings.HasPrefix(block, "tables:") {
			continue // a tasks file
		}
		r, err := Parse("docs/sanitising.md", []byte(block))
		if err != nil {
			t.Fatal(err)
		}
		parsed++
		if strings.Contains(block, "\nsql:") && (len(r.Tables) != 3 || len(r.Verify) != 1 || r.SQL == "" || r.Unlisted != UnlistedFail) {
			t.Errorf("%+v", r)
		}
	}
	if parsed != 2 {
		t.Errorf("parsed %d rule sets on the page; want 2 (sanitise init's output and the full example)", parsed)
	}
}

// Values are bound parameters, so any string is a value: words that begin
// SQL statements, quotes, ; and --, placeholders, backslashes and LIKE
// wildcards are kept exactly as written (the engines' tests prove they
// also arrive so).
func TestPlainValuesKeptVerbatim(t *testing.T) {
	r, err := Parse("r.yaml", []byte(`
tables:
  users:
    subject: {fixed: "Update"}
    plan: {fixed: Select a plan}
    stop: {fixed: Drop-off point}
    terms: {fixed: "Terms; conditions"}
    quoted: {fixed: 'it''s "quoted"'}
    drop: {fixed: "x'; DROP TABLE users; --"}
    param: {fixed: "$1"}
    slash: {fixed: 'back\slash\\n'}
    like: {fixed: "%_"}
    url: {rewrite: {from: "a' -- $1", to: 'b'' || (SELECT 1); \n'}}
`))
	if err != nil {
		t.Fatalf("plain values refused: %v", err)
	}
	want := []string{"Update", "Select a plan", "Drop-off point", "Terms; conditions", `it's "quoted"`,
		"x'; DROP TABLE users; --", "$1", `back\slash\\n`, "%_"}
	rules := r.Tables[0].Rules
	for i, w := range want {
		if rules[i].Value != w {
			t.Errorf("%s: value %q, want %q", rules[i].Column, rules[i].Value, w)
		}
	}
	if rw := rules[len(want)]; rw.From != "a' -- $1" || rw.To != `b' || (SELECT 1); \n` {
		t.Errorf("rewrite from %q to %q", rw.From, rw.To)
	}
}

// A key given twice is refused, naming the file, the key with its table and
// both lines: YAML would otherwise keep one silently (or, for tables and
// columns, apply both), and the rule a reviewer reads is not the one run.
func TestDuplicateKeysRefused(t *testing.T) {
	cases := map[string]string{
		"tables:\n  users:\n    email: email\n  orders:\n    ref: hash\n  users:\n    name: lorem\n":  `r.yaml: tables.users is given twice, at lines 2 and 6`,
		"tables:\n  users:\n    email: email\n    name: lorem\n    email: null\n":                     `r.yaml: tables.users.email is given twice, at lines 3 and 5`,
		"tables:\n  users:\n    url: {rewrite: {from: a, to: b, from: c}}\n":                          `r.yaml: tables.users.url.rewrite.from is given twice, at lines 3 and 3`,
		"collections:\n  users:\n    email: email\n  users:\n    name: lorem\n":                       `r.yaml: collections.users is given twice, at lines 2 and 4`,
		"sql: UPDATE a SET b = 1\ntables:\n  users:\n    email: email\nsql: UPDATE a SET b = 2\n":     `r.yaml: sql is given twice, at lines 1 and 5`,
		"tables:\n  users:\n    email: email\n\ntables:\n  orders:\n    ref: hash\n":                  `r.yaml: tables is given twice, at lines 1 and 5`,
		"verify:\n  - {collection: users, filter: {a: 1, a: 2}}\n":                                    `r.yaml: verify[0].filter.a is given twice, at lines 2 and 2`,
		"mongo_updates:\n  - collection: users\n    update: {$set: {a: 1}}\n    collection: orders\n": `r.yaml: mongo_updates[0].collection is given twice, at lines 2 and 4`,
	}
	for body, want := range cases {
		if _, err := Parse("r.yaml", []byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
	}
	// Load names the file it read.
	p := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(p, []byte("tables:\n  users:\n    email: email\n    email: hash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p+": tables.users.email is given twice, at lines 3 and 4") {
		t.Errorf("Load: %v", err)
	}
}
