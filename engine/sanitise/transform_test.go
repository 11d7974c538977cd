package sanitise

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const everyTransformer = `
tables:
  %s:
    email: email
    name: name
    phone: phone
    postcode: postcode
    ni: digits
    born: {date_shift: {days: 365}}
    ref: {hash: {length: 16}}
    body: {redact: pseudonyms}
    prefs: {json: {contact.email: email}}
`

var transformerColumns = []Column{{Name: "email"}, {Name: "name"}, {Name: "phone"}, {Name: "postcode"}, {Name: "ni"}, {Name: "born"}, {Name: "ref"}, {Name: "body"}, {Name: "prefs"}}

func sampleRow(i int) []Value {
	v := func(s string) Value { return Value{B: []byte(s)} }
	return []Value{
		v(fmt.Sprintf("Person.%d@Example.org", i)), v(fmt.Sprintf("Mary %d Smith", i)), v(fmt.Sprintf("+44 7700 9%05d", i)), v("SW1A 2AA"),
		v(fmt.Sprintf("QQ %02d %02d %02d C", i%100, i/100%100, i/10000%100)), v(fmt.Sprintf("19%02d-%02d-%02d", 40+i%60, 1+i%12, 1+i%28)),
		v(fmt.Sprint("ref-", i)), v(fmt.Sprintf("Update for person.%d@example.org, call 07700 9%05d", i, i)),
		v(fmt.Sprintf(`{"contact":{"email":"person.%d@example.org"},"n":%d}`, i, i)),
	}
}

func transformRows(t *testing.T, key, table string, now time.Time, n int) [][]Value {
	t.Helper()
	r, err := Parse("rules.yaml", []byte(fmt.Sprintf(everyTransformer, table)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(r, key, now)
	if err != nil {
		t.Fatal(err)
	}
	tr := p.Table(table, transformerColumns)
	out := make([][]Value, n)
	for i := range out {
		out[i] = sampleRow(i)
		if !tr.Row(out[i]) {
			t.Fatalf("row %d not written: %v", i, p.Err())
		}
	}
	if err := p.Finish(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The same input gives the same output in another table and another run
// (a later day), and formats are kept; another key gives other output.
func TestTransformersAreDeterministicAndKeepFormats(t *testing.T) {
	const key = "a-key-of-sixteen-or-more"
	a := transformRows(t, key, "subscribers", time.Now(), 200)
	b := transformRows(t, key, "archive", time.Now().Add(24*time.Hour), 200)
	other := transformRows(t, "another-key-entirely", "subscribers", time.Now(), 200)
	for i := range a {
		orig := sampleRow(i)
		for c := range a[i] {
			col := transformerColumns[c].Name
			if string(a[i][c].B) != string(b[i][c].B) {
				t.Fatalf("row %d %s: %q in one table and run, %q in another", i, col, a[i][c].B, b[i][c].B)
			}
			if col != "postcode" && string(a[i][c].B) == string(other[i][c].B) {
				t.Errorf("row %d %s: the same output under another key", i, col)
			}
			if string(a[i][c].B) == string(orig[c].B) {
				t.Errorf("row %d %s: unchanged", i, col)
			}
		}
		got := a[i]
		if !isWhole(KindEmail, got[0].B) || !strings.HasSuffix(string(got[0].B), "@example.com") {
			t.Errorf("email %q", got[0].B)
		}
		if f := strings.Fields(string(got[1].B)); len(f) != 2 || !nameSet[f[0]] || !nameSet[f[1]] {
			t.Errorf("name %q", got[1].B)
		}
		if sameShape(got[2].B, orig[2].B) != nil || !strings.HasPrefix(string(got[2].B), "+44 7") {
			t.Errorf("phone %q from %q", got[2].B, orig[2].B)
		}
		if !isWhole(KindPostcode, got[3].B) {
			t.Errorf("postcode %q", got[3].B)
		}
		if sameShape(got[4].B, orig[4].B) != nil || !strings.HasPrefix(string(got[4].B), "QQ ") {
			t.Errorf("NI number %q from %q", got[4].B, orig[4].B)
		}
		d, err := time.Parse("2006-01-02", string(got[5].B))
		o, _ := time.Parse("2006-01-02", string(orig[5].B))
		if err != nil || d.Equal(o) || d.Sub(o) > 366*24*time.Hour || o.Sub(d) > 366*24*time.Hour {
			t.Errorf("date_shift %q from %q", got[5].B, orig[5].B)
		}
		if len(got[6].B) != 16 {
			t.Errorf("hash %q: want 16 characters", got[6].B)
		}
		// The pseudonym in a text is the address column's own.
		if !strings.HasPrefix(string(got[7].B), "Update for "+string(got[0].B)+", call 07") {
			t.Errorf("redact pseudonyms %q; the column got %q", got[7].B, got[0].B)
		}
		if !strings.Contains(string(got[8].B), `"email":"`+string(got[0].B)+`"`) {
			t.Errorf("json %q; the column got %q", got[8].B, got[0].B)
		}
	}
}

// sameShape says whether a and b differ only in which digits they hold.
func sameShape(a, b []byte) error {
	if len(a) != len(b) {
		return fmt.Errorf("lengths %d and %d", len(a), len(b))
	}
	for i := range a {
		if (a[i] >= '0' && a[i] <= '9') != (b[i] >= '0' && b[i] <= '9') || (a[i] < '0' || a[i] > '9') && a[i] != b[i] {
			return fmt.Errorf("byte %d", i)
		}
	}
	return nil
}

// The e-mail pseudonym in a text is the one the address column gets, in
// any case: GOV.UK's email-alert-api keeps one per address across tables.
func TestPseudonymsInTextMatchTheColumn(t *testing.T) {
	k := newKeyed("a-key-of-sixteen-or-more")
	col := k.email([]byte("Person@Example.org"), 0)
	text := k.redact(&Rule{Kind: "redact", Pseudonyms: true}, []byte("Update for person@example.org: your topic changed"))
	if string(text) != "Update for "+string(col)+": your topic changed" {
		t.Errorf("%q; column got %q", text, col)
	}
}

// A unique column stays unique: a million distinct addresses get a million
// distinct pseudonyms.
func TestEmailStaysUniqueOverAMillionRows(t *testing.T) {
	k := newKeyed("a-key-of-sixteen-or-more")
	seen := make(map[string]struct{}, 1_000_000)
	buf := make([]byte, 0, 64)
	for i := range 1_000_000 {
		buf = fmt.Appendf(buf[:0], "user%d@example.org", i)
		seen[string(k.email(buf, 0))] = struct{}{}
	}
	if len(seen) != 1_000_000 {
		t.Errorf("%d distinct pseudonyms for 1000000 distinct addresses", len(seen))
	}
}

// No transformer writes more characters than the column holds, whatever
// the value (multi-byte text included).
func TestColumnLimitsAreNeverExceeded(t *testing.T) {
	rules := `
tables:
  t:
    email: email
    name: name
    phone: phone
    postcode: postcode
    ni: digits
    born: date_shift
    ref: hash
    body: {redact: pseudonyms}
    prefs: {json: {contact.email: email}}
    bio: lorem
    label: {fixed: "a rather long fixed replacement value"}
    url: {rewrite: {from: www, to: wwwwwwwwwwwwwwwwwwwwwwwww}}
`
	r, err := Parse("rules.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for limit := 1; limit <= 40; limit++ {
		p, err := NewPlan(r, "a-key-of-sixteen-or-more", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cols := append([]Column(nil), transformerColumns...)
		cols = append(cols, Column{Name: "bio"}, Column{Name: "label"}, Column{Name: "url"})
		for i := range cols {
			cols[i].Limit = limit
		}
		tr := p.Table("t", cols)
		for i := range 200 {
			row := sampleRow(rnd.IntN(1_000_000))
			row = append(row, Value{B: []byte(strings.Repeat("Zoë ", 1+i%15))}, Value{B: []byte("x")}, Value{B: []byte("https://www.gov.uk/" + strings.Repeat("ü", i%9))})
			if !tr.Row(row) {
				t.Fatalf("limit %d: %v", limit, p.Err())
			}
			for c, v := range row {
				if n := utf8.RuneCount(v.B); n > limit || !utf8.Valid(v.B) {
					t.Fatalf("limit %d: %s got %d characters (%q)", limit, cols[c].Name, n, v.B)
				}
			}
		}
	}
}

// The pseudonyms of a key never change between envsync versions: yesterday's
// staging and today's must agree, so a faster transformer must give the
// same output as the one it replaces.
func TestPseudonymsArePinned(t *testing.T) {
	k := newKeyed("a-key-of-sixteen-or-more")
	for _, c := range []struct{ got, want string }{
		{string(k.email([]byte("  Person.0@Example.ORG "), 0)), "anonymous-77xarmbjzpzs@example.com"},
		{string(k.email([]byte("  Person.0@Example.ORG "), 20)), "77xarmbj@example.com"},
		{string(k.email([]byte("  Person.0@Example.ORG "), 5)), "77xar"},
		{string(k.name("", []byte("Mary 0"))), "Mohammed Webb"},
		{string(k.phone([]byte("+44 7700 900000"))), "+44 7555 029173"},
		{string(k.phone([]byte("07700 900000"))), "07985 212220"},
		{string(k.postcode([]byte("SW1A 2AA"))), "GU7 8RY"},
		{string(k.digits("ni", []byte("QQ 00 00 C"), 0)), "QQ 41 00 C"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q (the pseudonyms of earlier versions)", c.got, c.want)
		}
	}
}

// The memo answers a repeated value with what the transformer itself
// gives, for every column of a table and however the values interleave;
// it keeps no more than memoMax entries, and a column whose values do not
// repeat turns it off and still gets the transformer's outputs.
func TestMemoAnswersAsTheTransformerDoes(t *testing.T) {
	p := memoPlan(t, "tables:\n  people:\n    name: name\n    postcode: postcode\n    email: email\n")
	rows := p.Table("people", []Column{{Name: "name"}, {Name: "postcode"}, {Name: "email"}})
	alone := newKeyed("a-key-of-sixteen-or-more")
	for i := range 3 * memoMax {
		k := i % 1000 // repeats at first, so the memo stays on
		if i >= memoProbe {
			k = i % (2 * memoMax) // then fills it, and misses it half the time
		}
		name := fmt.Appendf(nil, "Person %d", k)
		post := fmt.Appendf(nil, "SW%d 2AA", i%7)
		email := fmt.Appendf(nil, "p%d@example.org", i) // never repeats
		vals := []Value{{B: name}, {B: post}, {B: email}}
		rows.Row(vals)
		for c, want := range [][]byte{alone.name("", name), alone.postcode(post), alone.email(email, 0)} {
			if !bytes.Equal(vals[c].B, want) {
				t.Fatalf("row %d column %d: %q through the memo, %q from the transformer", i, c, vals[c].B, want)
			}
		}
	}
	if n := rows.memos[0].len(); n != memoMax {
		t.Errorf("the name memo holds %d entries, want %d", n, memoMax)
	}
	if rows.memos[2].outputs != nil {
		t.Error("the memo of a column whose values never repeat is still on")
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
}

// memoPlan starts a plan over rules for the memo's tests.
func memoPlan(t *testing.T, rules string) *Plan {
	t.Helper()
	r, err := Parse("rules.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(r, "a-key-of-sixteen-or-more", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Inputs whose hashes collide are told apart by their bytes.
func TestMemoTellsCollidingInputsApart(t *testing.T) {
	o := newOutputs()
	o.put([]byte("a"), []byte("A"))
	h := maphash.Bytes(o.seed, []byte("a"))
	o.at[maphash.Bytes(o.seed, []byte("b"))] = o.at[h] // as if "b" had "a"'s hash
	if out, ok := o.get([]byte("b")); ok {
		t.Fatalf("b answered with a's output %q", out)
	}
	if out, ok := o.get([]byte("a")); !ok || string(out) != "A" {
		t.Fatalf("a: %q, %v", out, ok)
	}
}

// Long values are remembered only while the memo's arena stays within its
// budget; past it, the transformer answers, with the same outputs.
func TestMemoKeepsToItsBudget(t *testing.T) {
	p := memoPlan(t, "tables:\n  t:\n    c: hash\n")
	rows := p.Table("t", []Column{{Name: "c"}})
	alone := newKeyed("a-key-of-sixteen-or-more")
	for i := range 200 {
		v := []byte(fmt.Sprintf("%d:%s", i%20, strings.Repeat("x", 64<<10+i))) // 20 repeat at first, then all new
		if i >= 20 {
			v = []byte(fmt.Sprintf("%d:%s", i, strings.Repeat("x", 64<<10)))
		}
		vals := []Value{{B: v}}
		rows.Row(vals)
		want, _, _ := alone.apply(&Rule{Kind: "hash"}, v, 0)
		if !bytes.Equal(vals[0].B, want) {
			t.Fatalf("value %d: %q through the memo, %q alone", i, vals[0].B, want)
		}
		if m := rows.memos[0]; m.outputs != nil && len(m.arena) > memoBytes {
			t.Fatalf("value %d: the arena holds %d bytes, over its %d", i, len(m.arena), memoBytes)
		}
	}
}
