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

// Transformers a column or field rule may name.
var Transformers = []string{"null", "fixed", "email", "hash", "lorem", "redact", "rewrite"}

// Rule is one column's (field's) transformation.
type Rule struct {
	Column string
	Kind   string // one of Transformers
	// Value is fixed's value; Pattern is redact's regular expression;
	// From and To are rewrite's strings.
	Value, Pattern, From, To string
}

// Target is one table's (collection's) rules.
type Target struct {
	Name  string
	Rules []Rule
	// DeleteWhere (SQL: a condition) deletes matching rows first.
	DeleteWhere string
	// DeleteFilter (MongoDB: a filter document) deletes matching documents.
	DeleteFilter map[string]any
}

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
}

// Error is a rule set problem, naming the file, the rule and the reason.
type Error struct {
	Path, Rule, Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: rule %s: %s", e.Path, e.Rule, e.Reason) }

var (
	identRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$`)
	fieldRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
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
}

// Parse checks a rule set read from path. A .sql file is the original's
// transformation SQL: a rule set of that SQL alone.
func Parse(path string, data []byte) (*Rules, error) {
	if strings.HasSuffix(path, ".sql") {
		return &Rules{Path: path, SHA256: Hash(data), SQL: string(data)}, nil
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
	r := &Rules{Path: path, SHA256: Hash(data), SQL: f.SQL, MongoUpdates: f.MongoUpdates}
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
		if !identRe.MatchString(name) && !(mongo && fieldRe.MatchString(name)) {
			return nil, &Error{path, name, "not a table or collection name"}
		}
		t := Target{Name: name}
		body := n.Content[i+1]
		if body.Kind != yaml.MappingNode {
			return nil, &Error{path, name, "must map columns to transformers"}
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
		r.Kind = spec.Content[0].Value
		arg := spec.Content[1]
		// fixed, redact and rewrite strings are bound parameters in every
		// engine (or used in Go, for MongoDB), never spliced into SQL: any
		// string is a legal value, "Update", "Terms; conditions" and
		// "x'; --" included, and arrives as written.
		switch r.Kind {
		case "fixed":
			r.Value = arg.Value
			if arg.Kind != yaml.ScalarNode {
				return r, &Error{path, where, "fixed takes one plain value, not a list or mapping"}
			}
		case "redact":
			r.Pattern = arg.Value
			if _, err := regexp.Compile(arg.Value); err != nil || arg.Kind != yaml.ScalarNode {
				return r, &Error{path, where, "redact takes a regular expression"}
			}
		case "rewrite":
			var rw struct{ From, To string }
			if err := arg.Decode(&rw); err != nil || rw.From == "" {
				return r, &Error{path, where, "rewrite takes {from, to}"}
			}
			r.From, r.To = rw.From, rw.To
		}
	default:
		return r, &Error{path, where, "a transformer name or {transformer: argument}"}
	}
	if !slices.Contains(Transformers, r.Kind) {
		return r, &Error{path, where, fmt.Sprintf("unknown transformer %q; known: %s", r.Kind, strings.Join(Transformers, ", "))}
	}
	if (r.Kind == "fixed" && spec.Kind != yaml.MappingNode) || (r.Kind == "redact" && r.Pattern == "") || (r.Kind == "rewrite" && r.From == "") {
		return r, &Error{path, where, r.Kind + " needs an argument, e.g. {" + r.Kind + ": ...}"}
	}
	return r, nil
}
