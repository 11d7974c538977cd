package sanitise

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
)

// `envsync sanitise init` writes a rule set from the database itself: the
// engine lists every table and column (collection and field path) and
// samples values of each, on the worker that holds the credentials; Suggest
// turns them into verdicts there, and only the verdicts (names, transformer,
// a reason) travel back. No sampled value leaves the worker.

// Sample is one table (collection, index) as an engine read it.
type Sample struct {
	Table   string
	Columns []SampleColumn
}

// SampleColumn is one column (a document's leaf field path) and up to the
// asked number of its non-null values, as text.
type SampleColumn struct {
	Name string
	// Type is the column's type as the database names it ("character
	// varying(20)", "date", "jsonb"); empty for documents.
	Type   string
	Values [][]byte
	// References is the "table.column" a foreign key on this column points
	// at, if any: a join that must still match after sanitising.
	References string
}

// Suggestion is sanitise init's verdict on one column: the transformer as
// the rule set writes it, and why (a name, or what the samples looked like;
// never a value).
type Suggestion struct {
	Column string `json:"column"`
	Rule   string `json:"rule"`
	Why    string `json:"why,omitempty"`
}

// TableSuggestion is every column of one table, in the table's order.
type TableSuggestion struct {
	Table   string       `json:"table"`
	Columns []Suggestion `json:"columns"`
}

// Survey is a database's verdicts: a complete rule set.
type Survey struct {
	// Documents: the tables are MongoDB collections or Elasticsearch
	// indices (collections:), not SQL tables.
	Documents bool              `json:"documents,omitempty"`
	Tables    []TableSuggestion `json:"tables"`
	// Sampled is the most values read per column.
	Sampled int `json:"sampled"`
}

// Suggest decides every column of samples: a transformer for what its name
// or its values say is personal, the same transformer for what joins or
// repeats such a column (so joins still match), keep for the rest. now
// dates the check for dates of birth.
func Suggest(samples []Sample, documents bool, now time.Time) Survey {
	s := Survey{Documents: documents}
	type at struct{ t, c int }
	byName := map[string]at{}
	for ti, tb := range samples {
		ts := TableSuggestion{Table: tb.Table}
		for ci, c := range tb.Columns {
			rule, why := suggestColumn(c, documents, now)
			ts.Columns = append(ts.Columns, Suggestion{Column: c.Name, Rule: rule, Why: why})
			byName[tb.Table+"."+c.Name] = at{ti, ci}
			s.Sampled = max(s.Sampled, len(c.Values))
		}
		s.Tables = append(s.Tables, ts)
	}
	// A column that points at, or repeats the values of, a transformed
	// column gets its transformer: keyed and deterministic, it gives the
	// same output for the same value in both, so the join still matches.
	seen := map[string]string{} // sampled value -> "table.column" transformed
	for ti, tb := range samples {
		for ci, c := range tb.Columns {
			if s.Tables[ti].Columns[ci].Rule == "keep" {
				continue
			}
			for _, v := range c.Values {
				seen[string(v)] = tb.Table + "." + c.Name
			}
		}
	}
	for ti, tb := range samples {
		for ci, c := range tb.Columns {
			sg := &s.Tables[ti].Columns[ci]
			if sg.Rule != "keep" {
				continue
			}
			if ref, ok := byName[c.References]; ok && s.Tables[ref.t].Columns[ref.c].Rule != "keep" {
				sg.Rule, sg.Why = s.Tables[ref.t].Columns[ref.c].Rule, "a foreign key to "+c.References+": the same transformer, so the join still matches"
				continue
			}
			hits := map[string]int{}
			for _, v := range c.Values {
				if src, ok := seen[string(v)]; ok {
					hits[src]++
				}
			}
			for src, n := range hits {
				if src != tb.Table+"."+c.Name && 2*n >= len(c.Values) && n > 0 {
					ref := byName[src]
					sg.Rule = s.Tables[ref.t].Columns[ref.c].Rule
					sg.Why = fmt.Sprintf("holds the values of %s (%d of %d sampled): the same transformer, so they still match", src, n, len(c.Values))
					break
				}
			}
		}
	}
	return s
}

// nameRules are what a column's name alone says, by its words.
var nameRules = []struct {
	words [][]string // any of these word sequences
	rule  string
	what  string
}{
	{[][]string{{"email"}, {"e", "mail"}, {"mail"}}, "email", "e-mail address"},
	{[][]string{{"phone"}, {"mobile"}, {"telephone"}, {"tel"}, {"fax"}, {"msisdn"}}, "phone", "phone number"},
	{[][]string{{"postcode"}, {"post", "code"}, {"postal", "code"}, {"zip"}, {"zipcode"}}, "postcode", "postcode"},
	{[][]string{{"ni", "number"}, {"nino"}, {"national", "insurance"}, {"ni", "no"}}, "digits", "National Insurance number"},
	{[][]string{{"card", "number"}, {"pan"}, {"iban"}, {"account", "number"}, {"sort", "code"}}, "digits", "card or account number"},
	{[][]string{{"first", "name"}, {"firstname"}, {"given", "name"}, {"forename"}, {"forenames"}}, "{name: first}", "given name"},
	{[][]string{{"last", "name"}, {"lastname"}, {"surname"}, {"family", "name"}}, "{name: last}", "surname"},
	{[][]string{{"full", "name"}, {"fullname"}, {"display", "name"}, {"contact", "name"}, {"person", "name"}, {"customer", "name"}, {"user", "name"}}, "name", "person's name"},
	{[][]string{{"dob"}, {"birth"}, {"birthday"}, {"birthdate"}}, "{date_shift: {days: 365}}", "date of birth"},
	{[][]string{{"address"}, {"street"}, {"addr"}, {"address", "line"}}, "lorem", "postal address"},
	{[][]string{{"password"}, {"passwd"}, {"secret"}, {"token"}, {"apikey"}, {"api", "key"}, {"salt"}, {"otp"}, {"totp"}}, "hash", "secret or token"},
	{[][]string{{"ip"}, {"ip", "address"}, {"remote", "addr"}, {"ipaddr"}}, "{fixed: 192.0.2.1}", "IP address"},
}

// words splits a column name (snake_case, camelCase, a field path's last
// part) into lower-case words.
func words(name string) []string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	var out []string
	var cur []rune
	prev := rune(0)
	for _, r := range name {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			if len(cur) > 0 {
				out = append(out, string(cur))
			}
			cur = nil
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			if len(cur) > 0 {
				out = append(out, string(cur))
			}
			cur = []rune{unicode.ToLower(r)}
		default:
			cur = append(cur, unicode.ToLower(r))
		}
		prev = r
	}
	if len(cur) > 0 {
		out = append(out, string(cur))
	}
	return out
}

// byColumnName is the rule a name suggests, if any.
func byColumnName(name string) (rule, what string) {
	w := words(name)
	for _, nr := range nameRules {
		for _, seq := range nr.words {
			for i := 0; i+len(seq) <= len(w); i++ {
				if slices.Equal(w[i:i+len(seq)], seq) {
					return nr.rule, nr.what
				}
			}
		}
	}
	return "", ""
}

// contentRules are the kinds Scan finds and what replaces a column of them.
var contentRules = map[string]struct{ rule, what string }{
	KindEmail:    {"email", "e-mail addresses"},
	KindPhone:    {"phone", "phone numbers"},
	KindPostcode: {"postcode", "UK postcodes"},
	KindNI:       {"digits", "National Insurance numbers"},
	KindCard:     {"digits", "payment card numbers (Luhn)"},
	KindIP:       {"{fixed: 192.0.2.1}", "IP addresses"},
}

func suggestColumn(c SampleColumn, documents bool, now time.Time) (rule, why string) {
	if documents && c.Name == "_id" {
		return "keep", ""
	}
	if len(c.Values) > 0 && isJSON(c) {
		if r, w := suggestJSON(c.Values, now); r != "" {
			return r, w
		}
		return "keep", ""
	}
	crule, cwhy := byContent(c, now)
	nrule, nwhat := byColumnName(c.Name)
	switch {
	case crule != "" && nrule != "" && crule == nrule:
		return crule, "the name says " + nwhat + "; " + cwhy
	case crule != "":
		return crule, cwhy
	case nrule != "":
		if len(c.Values) == 0 {
			return nrule, "the name says " + nwhat + " (no values to sample)"
		}
		return nrule, "the name says " + nwhat
	}
	return "keep", ""
}

// byContent is what the sampled values say: most of them wholly one kind
// of personal data, or any of them a text containing some.
func byContent(c SampleColumn, now time.Time) (rule, why string) {
	n := len(c.Values)
	if n == 0 {
		return "", ""
	}
	whole := map[string]int{}
	inText := map[string]int{}
	var names, births, secrets int
	for _, v := range c.Values {
		t := bytes.TrimSpace(v)
		for _, k := range kindsOf(Scan(t)) {
			if isWhole(k, t) {
				whole[k]++
			} else {
				inText[k]++
			}
		}
		if personName(t) {
			names++
		}
		if birthDate(c.Type, t, now) {
			births++
		}
		if secretLike(t) {
			secrets++
		}
	}
	for _, k := range ScanKinds {
		if 2*whole[k] >= n && whole[k] > 0 {
			return contentRules[k].rule, fmt.Sprintf("sampled values were %s (%d of %d)", contentRules[k].what, whole[k], n)
		}
	}
	switch {
	case 2*names >= n && names > 0:
		return "name", fmt.Sprintf("sampled values were people's names (%d of %d)", names, n)
	case 2*births >= n && births > 0:
		return "{date_shift: {days: 365}}", fmt.Sprintf("sampled values looked like dates of birth (%d of %d)", births, n)
	case 2*secrets >= n && secrets > 0:
		return "hash", fmt.Sprintf("sampled values looked like secrets or tokens (%d of %d)", secrets, n)
	}
	var kinds []string
	total := 0
	for _, k := range ScanKinds {
		if whole[k]+inText[k] > 0 {
			kinds = append(kinds, contentRules[k].what)
			total += whole[k] + inText[k]
		}
	}
	if len(kinds) == 0 {
		return "", ""
	}
	rule = "{redact: pseudonyms}"
	for _, k := range ScanKinds {
		if k != KindEmail && k != KindPhone && whole[k]+inText[k] > 0 {
			rule = "lorem" // pseudonyms replace addresses and phones only
		}
	}
	return rule, fmt.Sprintf("free text containing %s (%d of %d sampled values)", strings.Join(kinds, ", "), min(total, n), n)
}

// isWhole reports whether all of v is one value of kind k.
func isWhole(k string, v []byte) bool {
	re := map[string]*regexp.Regexp{KindEmail: emailRe, KindPhone: phoneRe, KindPostcode: postcodeRe, KindNI: niRe, KindCard: cardRe, KindIP: ipRe}[k]
	loc := re.FindIndex(v)
	return loc != nil && loc[0] == 0 && loc[1] == len(v)
}

var nameSet = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range firstNames {
		m[n] = true
	}
	for _, n := range lastNames {
		m[n] = true
	}
	return m
}()

// personName: one to four capitalised words of letters ('- allowed), the
// first a given name or the last a surname of the built-in lists.
func personName(v []byte) bool {
	f := strings.Fields(string(v))
	if len(f) == 0 || len(f) > 4 {
		return false
	}
	for _, w := range f {
		r := []rune(w)
		if !unicode.IsUpper(r[0]) {
			return false
		}
		for _, c := range r {
			if !unicode.IsLetter(c) && c != '\'' && c != '-' && c != '.' {
				return false
			}
		}
	}
	return nameSet[f[0]] || nameSet[f[len(f)-1]]
}

// birthDate: a date (not a timestamp) of someone at least 16 and born
// after 1900.
func birthDate(typ string, v []byte, now time.Time) bool {
	typ = strings.ToLower(typ)
	if typ != "" && (!strings.Contains(typ, "date") || strings.Contains(typ, "time")) {
		return false
	}
	if len(v) != 10 || !dateRe.Match(v) {
		return false
	}
	t, err := time.Parse("2006-01-02", string(v))
	return err == nil && t.Year() >= 1900 && t.Before(now.AddDate(-16, 0, 0))
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// secretLike: a long unbroken run of letters and digits (and the marks of
// base64 and password hashes) mixing both, that is not a UUID.
func secretLike(v []byte) bool {
	if len(v) < 20 || uuidRe.Match(v) {
		return false
	}
	var letters, digits bool
	distinct := map[byte]bool{}
	for _, c := range v {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letters = true
		case strings.IndexByte("+/=_.$-", c) >= 0:
		default:
			return false
		}
		distinct[c] = true
	}
	return letters && digits && len(distinct) >= 12
}

func isJSON(c SampleColumn) bool {
	t := strings.ToLower(c.Type)
	if t == "json" || t == "jsonb" {
		return true
	}
	if c.Type != "" && !strings.Contains(t, "text") && !strings.Contains(t, "char") {
		return false
	}
	for _, v := range c.Values {
		v = bytes.TrimSpace(v)
		if len(v) == 0 || (v[0] != '{' && v[0] != '[') || !json.Valid(v) {
			return false
		}
	}
	return true
}

// suggestJSON decides the paths inside JSON values: {json: {path: rule}}
// for the personal ones, "" when none is.
func suggestJSON(values [][]byte, now time.Time) (rule, why string) {
	leaves := map[string][][]byte{}
	var order []string
	for _, v := range values {
		var doc any
		if json.Unmarshal(v, &doc) != nil {
			continue
		}
		Leaves(doc, "", func(path string, leaf any) {
			str, ok := leaf.(string)
			if !ok || path == "" || !fieldRe.MatchString(path) {
				return // only text holds personal data worth a rule here
			}
			if _, seen := leaves[path]; !seen {
				order = append(order, path)
			}
			leaves[path] = append(leaves[path], []byte(str))
		})
	}
	var parts, whys []string
	for _, p := range order {
		r, w := suggestColumn(SampleColumn{Name: p, Values: leaves[p]}, false, now)
		if r == "keep" {
			continue
		}
		parts = append(parts, p+": "+r)
		whys = append(whys, p+": "+w)
	}
	if len(parts) == 0 {
		return "", ""
	}
	return "{json: {" + strings.Join(parts, ", ") + "}}", strings.Join(whys, "; ")
}

// Leaves calls f with every leaf of a decoded JSON document at its dotted
// path below path: object keys in order, arrays by their field's own path
// (as a sanitised restore names document fields).
func Leaves(doc any, path string, f func(path string, leaf any)) {
	switch d := doc.(type) {
	case map[string]any:
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			Leaves(d[k], p, f)
		}
	case []any:
		for _, e := range d {
			Leaves(e, path, f)
		}
	default:
		f(path, d)
	}
}

// Changes counts the columns a survey transforms.
func (s Survey) Changes() (transformed, kept int) {
	for _, t := range s.Tables {
		for _, c := range t.Columns {
			if c.Rule == "keep" {
				kept++
			} else {
				transformed++
			}
		}
	}
	return transformed, kept
}

// Unnamed lists what of a database (its tables and columns, as a survey
// read them) the rule set does not name, as a pull with it would report
// them: "table.column", or "table (the whole table)". Nothing when it
// lets what it does not name through (unlisted: keep).
func (r *Rules) Unnamed(samples []Sample) []string {
	if r.Unlisted == UnlistedKeep {
		return nil
	}
	// A plan only names here; it transforms nothing, so it needs no key.
	p := &Plan{rules: r, tables: map[string]*TableReport{}, findings: map[string]int{}, seen: map[string]bool{}}
	for _, s := range samples {
		if r.Kind() != KindDocuments {
			names := make([]string, len(s.Columns))
			for i, c := range s.Columns {
				names[i] = c.Name
			}
			p.unlistedOf(s.Table, names)
			continue
		}
		t := p.Table(s.Table, nil)
		if tg, _ := p.target(s.Table); tg == nil {
			continue // Table named the whole collection
		}
		for _, c := range s.Columns {
			t.Expect(c.Name)
		}
	}
	return p.unlisted
}
