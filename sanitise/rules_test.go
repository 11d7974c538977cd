package sanitise

import (
	"os"
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

// The README's example rule set must stay valid.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(readme), "## Sanitising")
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	block, _, _ := strings.Cut(rest, "```")
	r, err := Parse("README.md", []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tables) != 4 || len(r.Verify) != 1 || r.SQL == "" {
		t.Errorf("%+v", r)
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
