// Package sanitise reads the rules that strip personal data from a restored
// copy before anyone can reach it: declarative per-column (per-field)
// transformers, environment rewrites, extra SQL or MongoDB updates, and
// verify queries that must find nothing. Rules are compiled into set-based
// statements elsewhere (SQL by engine/sqlrules, MongoDB by its engine);
// this package only reads and checks them.
//
// A rule set is a YAML file on the worker hosts. Tasks carry its path and
// sha256, never its content, and the worker refuses a file whose hash
// differs from the one the task was validated with.
package sanitise

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Transformers a column or field rule may name. keep passes the value as
// it is (and scans it for personal data); the rest replace it.
var Transformers = []string{"keep", "null", "fixed", "email", "name", "phone", "postcode", "digits", "date_shift", "hash",
	"lorem", "redact", "rewrite", "json"}

// Rule is one column's (field's) transformation.
type Rule struct {
	Column string
	Kind   string // one of Transformers
	// Value is fixed's value; Pattern is redact's regular expression
	// (Pseudonyms: replace e-mail addresses and phone numbers in the
	// text with their own pseudonyms instead); From and To are rewrite's
	// strings.
	Value, Pattern, From, To string
	Pseudonyms               bool
	// Part is name's first, last or full (default); Days is date_shift's
	// window (default 30); Length cuts hash's hex (default all 64).
	Part   string
	Days   int
	Length int
	// Allow are the kinds of personal data (ScanKinds) a kept column may
	// hold, such as a public support address.
	Allow []string
	// Paths are json's rules, by dot-separated path inside the value.
	Paths []Rule
	re    *regexp.Regexp
}

// Target is one table's (collection's) rules.
type Target struct {
	Name  string
	Rules []Rule
	// Empty restores the table without any of its rows.
	Empty bool
	// DeleteWhere (SQL: a condition) deletes matching rows: in the stream
	// when it is a Cond (Filter), after the restore when it is SQL.
	DeleteWhere string
	Filter      *Cond
	// DeleteFilter (MongoDB: a filter document) deletes matching documents.
	DeleteFilter map[string]any
}

// Unlisted says what a column (field) the rule set does not name gets:
// the run fails (UnlistedFail, the default), or it passes as it is
// (UnlistedKeep, the behaviour before rule sets had to be complete).
const (
	UnlistedFail = "fail"
	UnlistedKeep = "keep"
)

// MongoUpdate is one update operation run as given.
type MongoUpdate struct {
	Collection string         `yaml:"collection"`
	Filter     map[string]any `yaml:"filter"`
	Update     map[string]any `yaml:"update"`
}

// MongoVerify must count zero documents.
type MongoVerify struct {
	Collection string         `yaml:"collection"`
	Filter     map[string]any `yaml:"filter"`
}

// Rules is a parsed, checked rule set.
type Rules struct {
	Path   string
	SHA256 string
	// Tables for SQL engines, Collections for MongoDB (in file order).
	Tables      []Target
	Collections []Target
	// SQL runs after the rules (the original's transformation SQL).
	SQL string
	// MongoUpdates run after the rules.
	MongoUpdates []MongoUpdate
	// Verify (SQL) are SELECTs that must return no rows.
	Verify []string
	// MongoVerify filters must match no documents.
	MongoVerify []MongoVerify
	// Unlisted is UnlistedFail or UnlistedKeep.
	Unlisted string
}

// Error is a rule set problem, naming the file, the rule and the reason.
type Error struct {
	Path, Rule, Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: rule %s: %s", e.Path, e.Rule, e.Reason) }

var (
	identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$`)
	fieldRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
	// collRe is a MongoDB collection or an Elasticsearch index name.
	collRe   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	selectRe = regexp.MustCompile(`(?is)^\s*(select|with)\b`)
)

// Load reads and checks the rule set at path.
func Load(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sanitise rules: %w", err)
	}
	return Parse(path, data)
}

// Hash is the hex sha256 of a rule file's bytes.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// LoadChecked reads path and refuses it unless its sha256 is want: the
// file on this host must be the one the task was validated with.
func LoadChecked(path, want string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sanitise rules %s on this host: %w", path, err)
	}
	if got := Hash(data); got != want {
		return nil, fmt.Errorf("sanitise rules %s on this host have sha256 %s, but the task was validated with %s; deploy the same file everywhere", path, got, want)
	}
	return Parse(path, data)
}

type fileFormat struct {
	Tables       yaml.Node     `yaml:"tables"`
	Collections  yaml.Node     `yaml:"collections"`
	SQL          string        `yaml:"sql"`
	MongoUpdates []MongoUpdate `yaml:"mongo_updates"`
	Verify       []yaml.Node   `yaml:"verify"`
	Unlisted     string        `yaml:"unlisted"`
}

// Parse checks a rule set read from path. A .sql file is the original's
// transformation SQL: a rule set of that SQL alone.
func Parse(path string, data []byte) (*Rules, error) {
	if strings.HasSuffix(path, ".sql") {
		// It names no column, so nothing in it can fail closed: it runs on
		// the restored copy, as the original's did.
		return &Rules{Path: path, SHA256: Hash(data), SQL: string(data), Unlisted: UnlistedKeep}, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not a rule set (tables, collections, sql, mongo_updates, verify): %w", path, err)
	}
	if err := uniqueKeys(path, &doc, ""); err != nil {
		return nil, err
	}
	var f fileFormat
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: not a rule set (tables, collections, sql, mongo_updates, verify): %w", path, err)
	}
	r := &Rules{Path: path, SHA256: Hash(data), SQL: f.SQL, MongoUpdates: f.MongoUpdates, Unlisted: f.Unlisted}
	switch r.Unlisted {
	case "":
		r.Unlisted = UnlistedFail
	case UnlistedFail, UnlistedKeep:
	default:
		return nil, &Error{path, "unlisted", fmt.Sprintf("%q: must be fail (the default: a column no rule names stops the run) or keep", f.Unlisted)}
	}
	var err error
	if r.Tables, err = targets(path, &f.Tables, false); err != nil {
		return nil, err
	}
	if r.Collections, err = targets(path, &f.Collections, true); err != nil {
		return nil, err
	}
	for i, v := range f.Verify {
		name := fmt.Sprintf("verify[%d]", i)
		switch v.Kind {
		case yaml.ScalarNode:
			if !selectRe.MatchString(v.Value) || strings.Contains(strings.TrimRight(strings.TrimSpace(v.Value), ";"), ";") {
				return nil, &Error{path, name, "a verify query must be one SELECT that returns the offending rows"}
			}
			r.Verify = append(r.Verify, strings.TrimRight(strings.TrimSpace(v.Value), ";"))
		case yaml.MappingNode:
			var mv MongoVerify
			if err := v.Decode(&mv); err != nil || mv.Collection == "" {
				return nil, &Error{path, name, "a MongoDB verify is {collection, filter}"}
			}
			r.MongoVerify = append(r.MongoVerify, mv)
		default:
			return nil, &Error{path, name, "must be a SELECT or {collection, filter}"}
		}
	}
	for i, u := range r.MongoUpdates {
		if u.Collection == "" || len(u.Update) == 0 {
			return nil, &Error{path, fmt.Sprintf("mongo_updates[%d]", i), "needs collection, filter and update"}
		}
	}
	if (len(r.Tables) > 0 || r.SQL != "" || len(r.Verify) > 0) && (len(r.Collections) > 0 || len(r.MongoUpdates) > 0 || len(r.MongoVerify) > 0) {
		return nil, &Error{path, "-", "mixes SQL rules (tables, sql, SELECT verify) with MongoDB rules (collections, mongo_updates, filter verify); one rule set serves one engine"}
	}
	return r, nil
}

// uniqueKeys refuses a mapping key given twice anywhere under n, naming
// it by its path from the top (tables.users.email) and both lines. Tables
// and columns are read from yaml.Nodes, which keep both entries, and the
// rest is decoded with a message that names no rule; either way the rule a
// reviewer reads need not be the one that runs.
func uniqueKeys(path string, n *yaml.Node, where string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := uniqueKeys(path, c, where); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := uniqueKeys(path, c, fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		line := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			name := k.Value
			if where != "" {
				name = where + "." + k.Value
			}
			if k.Kind == yaml.ScalarNode {
				if first, ok := line[k.Value]; ok {
					return fmt.Errorf("%s: %s is given twice, at lines %d and %d; keep one (merge them if both are meant)", path, name, first, k.Line)
				}
				line[k.Value] = k.Line
			}
			if err := uniqueKeys(path, n.Content[i+1], name); err != nil {
				return err
			}
		}
	}
	return nil
}

// NeedsHashKey reports whether a rule uses the keyed hash.
func (r *Rules) NeedsHashKey() bool {
	for _, ts := range [][]Target{r.Tables, r.Collections} {
		for _, t := range ts {
			for _, rule := range t.Rules {
				if rule.Kind == "hash" {
					return true
				}
			}
		}
	}
	return false
}

// Kinds of rule set, as engines declare which they run (engine.Info.Rules).
const (
	// KindSQL: tables with column rules, SQL statements, SELECT verifies.
	KindSQL = "sql"
	// KindDocuments: collections with field rules, update documents,
	// filter verifies.
	KindDocuments = "documents"
)

// Kind says which kind of engine the rule set is written for; "" for a
// set with no rules.
func (r *Rules) Kind() string {
	switch {
	case r.ForMongo():
		return KindDocuments
	case len(r.Tables) > 0 || r.SQL != "" || len(r.Verify) > 0:
		return KindSQL
	}
	return ""
}

// InStream reports whether a plan has anything to do as rows pass: a rule
// set that names no table or collection and keeps what it does not name
// (the original's .sql) only runs after the restore.
func (r *Rules) InStream() bool {
	return len(r.Tables) > 0 || len(r.Collections) > 0 || r.Unlisted != UnlistedKeep
}

// Sanitise modes, as tasks name them and engines declare them.
const (
	// OnPull: a pull sanitises its staging copy before the swap.
	OnPull = "on_pull"
	// BeforeUpload: a push sanitises a scratch copy and uploads that.
	BeforeUpload = "before_upload"
)

// ForMongo reports whether the rule set is written for MongoDB.
func (r *Rules) ForMongo() bool {
	return len(r.Collections) > 0 || len(r.MongoUpdates) > 0 || len(r.MongoVerify) > 0
}

func targets(path string, n *yaml.Node, mongo bool) ([]Target, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, &Error{path, "-", "tables/collections must map names to rules"}
	}
	var out []Target
	for i := 0; i+1 < len(n.Content); i += 2 {
		name := n.Content[i].Value
		if !identRe.MatchString(name) && !(mongo && collRe.MatchString(name)) {
			return nil, &Error{path, name, "not a table or collection name"}
		}
		t := Target{Name: name}
		body := n.Content[i+1]
		if body.Kind == yaml.ScalarNode && body.Value == "empty" {
			t.Empty = true
			out = append(out, t)
			continue
		}
		if body.Kind != yaml.MappingNode {
			return nil, &Error{path, name, "must map columns to transformers (or be empty: the table without its rows)"}
		}
		for j := 0; j+1 < len(body.Content); j += 2 {
			col, spec := body.Content[j].Value, body.Content[j+1]
			where := name + "." + col
			if col == "delete_where" {
				if mongo {
					if err := spec.Decode(&t.DeleteFilter); err != nil || spec.Kind != yaml.MappingNode {
						return nil, &Error{path, where, "for MongoDB, delete_where is a filter document"}
					}
				} else {
					if spec.Kind != yaml.ScalarNode || strings.ContainsAny(spec.Value, ";") || strings.Contains(spec.Value, "--") {
						return nil, &Error{path, where, "for SQL, delete_where is one condition, without ; or comments"}
					}
					t.DeleteWhere = spec.Value
					t.Filter, _ = ParseCond(spec.Value)
				}
				continue
			}
			if (mongo && !fieldRe.MatchString(col)) || (!mongo && !identRe.MatchString(col)) {
				return nil, &Error{path, where, "not a column (field) name"}
			}
			rule, err := parseRule(path, where, col, spec)
			if err != nil {
				return nil, err
			}
			t.Rules = append(t.Rules, rule)
		}
		out = append(out, t)
	}
	return out, nil
}

func parseRule(path, where, col string, spec *yaml.Node) (Rule, error) {
	r := Rule{Column: col}
	var arg *yaml.Node
	switch spec.Kind {
	case yaml.ScalarNode:
		r.Kind = spec.Value
		if spec.Tag == "!!null" {
			r.Kind = "null"
		}
	case yaml.MappingNode:
		if len(spec.Content) != 2 {
			return r, &Error{path, where, "one transformer per column"}
		}
		r.Kind, arg = spec.Content[0].Value, spec.Content[1]
	default:
		return r, &Error{path, where, "a transformer name or {transformer: argument}"}
	}
	if !slices.Contains(Transformers, r.Kind) {
		return r, &Error{path, where, fmt.Sprintf("unknown transformer %q; known: %s", r.Kind, strings.Join(Transformers, ", "))}
	}
	if arg == nil {
		if slices.Contains([]string{"fixed", "redact", "rewrite", "json"}, r.Kind) {
			return r, &Error{path, where, r.Kind + " needs an argument, e.g. {" + r.Kind + ": ...}"}
		}
		return r, nil
	}
	if reason := r.argument(path, where, arg); reason != "" {
		return r, &Error{path, where, reason}
	}
	return r, nil
}

// argument reads a transformer's argument into r; a non-empty result says
// what is wrong with it. fixed, redact and rewrite strings are used as
// written, in Go, never spliced into SQL: any string is a legal value,
// "Update", "Terms; conditions" and "x'; --" included.
func (r *Rule) argument(path, where string, arg *yaml.Node) string {
	switch r.Kind {
	case "fixed":
		if arg.Kind != yaml.ScalarNode {
			return "fixed takes one plain value, not a list or mapping"
		}
		r.Value = arg.Value
	case "redact":
		if arg.Kind == yaml.ScalarNode && arg.Value == "pseudonyms" {
			r.Pseudonyms = true
			return ""
		}
		re, err := regexp.Compile(arg.Value)
		if err != nil || arg.Kind != yaml.ScalarNode || arg.Value == "" {
			return "redact takes a regular expression, or pseudonyms"
		}
		r.Pattern, r.re = arg.Value, re
	case "rewrite":
		var rw struct{ From, To string }
		if err := arg.Decode(&rw); err != nil || rw.From == "" {
			return "rewrite takes {from, to}"
		}
		r.From, r.To = rw.From, rw.To
	case "name":
		if !slices.Contains([]string{"first", "last", "full"}, arg.Value) {
			return "name takes first, last or full"
		}
		r.Part = arg.Value
	case "hash":
		var o struct{ Length int }
		if err := arg.Decode(&o); err != nil || o.Length < 8 || o.Length > 64 {
			return "hash takes {length: 8 to 64}"
		}
		r.Length = o.Length
	case "date_shift":
		var o struct{ Days int }
		if err := arg.Decode(&o); err != nil || o.Days < 1 {
			return "date_shift takes {days: N}, the window in days (1 or more)"
		}
		r.Days = o.Days
	case "keep":
		var o struct{ Allow []string }
		if err := arg.Decode(&o); err != nil {
			return "keep takes {allow: [kinds]}"
		}
		for _, k := range o.Allow {
			if !slices.Contains(ScanKinds, k) {
				return fmt.Sprintf("keep allows kinds of personal data: %s, not %q", strings.Join(ScanKinds, ", "), k)
			}
		}
		r.Allow = o.Allow
	case "json":
		if arg.Kind != yaml.MappingNode {
			return "json maps paths inside the value to transformers, e.g. {json: {contact.email: email}}"
		}
		for j := 0; j+1 < len(arg.Content); j += 2 {
			p, err := parseRule(path, where+" "+arg.Content[j].Value, arg.Content[j].Value, arg.Content[j+1])
			if err != nil {
				return err.(*Error).Reason
			}
			if p.Kind == "json" {
				return "json paths take plain transformers"
			}
			r.Paths = append(r.Paths, p)
		}
	default:
		return r.Kind + " takes no argument"
	}
	return ""
}

// Residual is what of a rule set is left once a plan has applied it in the
// stream, to run on the restored copy: for SQL, deletes whose condition is
// free SQL, the sql block and the verify queries; for documents, delete
// filters, update operations and verify filters. What they remove or
// change was written to the staging server first.
func (r *Rules) Residual() *Rules {
	if r.Kind() == KindDocuments {
		out := &Rules{Path: r.Path, SHA256: r.SHA256, MongoUpdates: r.MongoUpdates, MongoVerify: r.MongoVerify, Unlisted: r.Unlisted}
		for _, t := range r.Collections {
			if len(t.DeleteFilter) > 0 {
				out.Collections = append(out.Collections, Target{Name: t.Name, DeleteFilter: t.DeleteFilter})
			}
		}
		return out
	}
	if r.Kind() != KindSQL {
		return r
	}
	out := &Rules{Path: r.Path, SHA256: r.SHA256, SQL: r.SQL, Verify: r.Verify, Unlisted: r.Unlisted}
	for _, t := range r.Tables {
		if t.DeleteWhere != "" && t.Filter == nil {
			out.Tables = append(out.Tables, Target{Name: t.Name, DeleteWhere: t.DeleteWhere})
		}
	}
	return out
}
