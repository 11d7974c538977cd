package sanitise

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func values(f func(i int) string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(f(i))
	}
	return out
}

// Personal data under misleading names is found by what the values hold,
// joins get the transformer of what they join, and the rest is kept.
func TestSuggestFindsPersonalDataByContent(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	email := func(i int) string { return fmt.Sprintf("person%d@mail.example.org", i) }
	samples := []Sample{
		{Table: "people", Columns: []SampleColumn{
			{Name: "id", Type: "integer", Values: values(func(i int) string { return fmt.Sprint(i + 1) }, 50)},
			{Name: "contact", Type: "text", Values: values(email, 50)},
			{Name: "notes", Type: "text", Values: values(func(i int) string { return []string{"Olivia Smith", "Jack Jones", "Amelia Taylor"}[i%3] }, 50)},
			{Name: "ref", Type: "text", Values: values(func(i int) string { return fmt.Sprintf("AB%02d%02d%02dC", i, i, i) }, 50)},
			{Name: "born", Type: "date", Values: values(func(i int) string { return fmt.Sprintf("19%02d-03-04", 50+i%40) }, 50)},
			{Name: "remark", Type: "text", Values: values(func(i int) string {
				if i%10 == 0 {
					return "called back on 07700 900" + fmt.Sprintf("%03d", i)
				}
				return "no answer"
			}, 50)},
			{Name: "api_token", Type: "text"},
			{Name: "prefs", Type: "jsonb", Values: values(func(i int) string { return fmt.Sprintf(`{"theme":"dark","cc":{"to":"%s"}}`, email(i)) }, 50)},
			{Name: "created_at", Type: "timestamp with time zone", Values: values(func(i int) string { return "2024-01-02 03:04:05+00" }, 50)},
			{Name: "title", Type: "text", Values: values(func(i int) string { return "Changes to VAT rates" }, 50)},
			{Name: "surname", Type: "text", Values: values(func(i int) string { return fmt.Sprintf("Qx%dz", i%7) }, 50)},
		}},
		{Table: "subscriptions", Columns: []SampleColumn{
			{Name: "id", Type: "integer", Values: values(func(i int) string { return fmt.Sprint(i) }, 50)},
			{Name: "who", Type: "text", Values: values(email, 50)},
			{Name: "fam", Type: "text", Values: values(func(i int) string { return fmt.Sprintf("Qx%dz", i%7) }, 50)},
			{Name: "person_ref", Type: "text", References: "people.ref"},
		}},
	}
	s := Suggest(samples, false, now)
	want := map[string]string{
		"people.id": "keep", "people.contact": "email", "people.notes": "name", "people.ref": "digits",
		"people.born": "{date_shift: {days: 365}}", "people.remark": "{redact: pseudonyms}", "people.api_token": "hash",
		"people.prefs": "{json: {cc.to: email}}", "people.created_at": "keep", "people.title": "keep", "people.surname": "{name: last}", "subscriptions.fam": "{name: last}",
		"subscriptions.id": "keep", "subscriptions.who": "email", "subscriptions.person_ref": "digits",
	}
	for _, tb := range s.Tables {
		for _, c := range tb.Columns {
			k := tb.Table + "." + c.Column
			if c.Rule != want[k] {
				t.Errorf("%s: %s (%s), want %s", k, c.Rule, c.Why, want[k])
			}
			if c.Rule != "keep" && c.Why == "" {
				t.Errorf("%s: transformed without a reason", k)
			}
			if strings.Contains(c.Why, "@") || strings.Contains(c.Why, "Smith") {
				t.Errorf("%s: the reason quotes a value: %s", k, c.Why)
			}
		}
	}
	if s.Tables[0].Columns[1].Why != "sampled values were e-mail addresses (50 of 50)" {
		t.Errorf("contact: %q", s.Tables[0].Columns[1].Why)
	}
	if !strings.Contains(s.Tables[1].Columns[3].Why, "a foreign key to people.ref") {
		t.Errorf("person_ref: %q", s.Tables[1].Columns[3].Why)
	}
	if !strings.HasPrefix(s.Tables[1].Columns[2].Why, "holds the values of people.surname (50 of 50 sampled)") {
		t.Errorf("fam: %q", s.Tables[1].Columns[2].Why)
	}

	// What it writes is a rule set that names everything it saw.
	y := s.YAML("test")
	r, err := Parse("init.yaml", y)
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if u := r.Unnamed(samples); len(u) != 0 {
		t.Errorf("the written rule set does not name %v", u)
	}
	if !strings.HasPrefix(string(y), "# test\ntables:\n  people:\n    id: keep\n    contact: email  # sampled values were") {
		t.Errorf("written:\n%s", y)
	}
}

// --update keeps every line and adds the missing columns and tables where
// they belong; what a rule set does not name is listed as a pull would.
func TestUpdateKeepsEveryLine(t *testing.T) {
	old := `# our rules
unlisted: fail
tables:
  people:
    id: keep
    contact: email   # checked by hand

  # the orders, reviewed 2026-11
  orders:
    id: keep
verify:
  - SELECT 1 WHERE false
`
	samples := []Sample{
		{Table: "people", Columns: []SampleColumn{{Name: "id"}, {Name: "contact"}, {Name: "ni_number", Values: [][]byte{[]byte("AB123456C")}}}},
		{Table: "orders", Columns: []SampleColumn{{Name: "id"}}},
		{Table: "audit", Columns: []SampleColumn{{Name: "id"}, {Name: "ip", Values: [][]byte{[]byte("10.1.2.3")}}}},
	}
	r, err := Parse("rules.yaml", []byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if u := r.Unnamed(samples); strings.Join(u, ",") != "people.ni_number,audit (the whole table)" {
		t.Errorf("unnamed: %v", u)
	}
	s := Suggest(samples, false, time.Now())
	out, added, err := s.Update("rules.yaml", []byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(added, ",") != "people.ni_number,audit" {
		t.Errorf("added %v", added)
	}
	for _, l := range strings.Split(old, "\n") {
		if !strings.Contains(string(out), l) {
			t.Errorf("lost line %q", l)
		}
	}
	want := `    contact: email   # checked by hand
    ni_number: digits  # the name says National Insurance number; sampled values were National Insurance numbers (1 of 1)

  # the orders, reviewed 2026-11
  orders:
    id: keep
  audit:
    id: keep
    ip: {fixed: 192.0.2.1}`
	if !strings.Contains(string(out), want) {
		t.Errorf("updated:\n%s", out)
	}
	r2, err := Parse("rules.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	if u := r2.Unnamed(samples); len(u) != 0 {
		t.Errorf("after --update, still unnamed: %v", u)
	}
	// Nothing to add: the file comes back byte for byte.
	again, added, err := s.Update("rules.yaml", out)
	if err != nil || string(again) != string(out) || len(added) != 0 {
		t.Errorf("second update changed it: %v %v", added, err)
	}
}

// Documents: field paths, _id kept, nested paths covered by the rule of
// the path above them.
func TestSuggestDocuments(t *testing.T) {
	samples := []Sample{{Table: "users", Columns: []SampleColumn{
		{Name: "_id", Values: [][]byte{[]byte("65a1")}},
		{Name: "profile.email", Values: [][]byte{[]byte("a@b.example.com")}},
		{Name: "profile.age", Values: [][]byte{[]byte("41")}},
	}}}
	s := Suggest(samples, true, time.Now())
	y := string(s.YAML(""))
	if !strings.Contains(y, "collections:\n  users:\n    _id: keep\n    profile.email: email") {
		t.Errorf("%s", y)
	}
	r, err := Parse("m.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if u := r.Unnamed(samples); len(u) != 0 {
		t.Errorf("unnamed %v", u)
	}
	r, _ = Parse("m.yaml", []byte("collections:\n  users:\n    _id: keep\n    profile: keep\n"))
	samples[0].Columns = append(samples[0].Columns, SampleColumn{Name: "phone"})
	if u := r.Unnamed(append(samples, Sample{Table: "logs"})); strings.Join(u, ",") != "users.phone,logs (the whole table)" {
		t.Errorf("unnamed %v", u)
	}
}
