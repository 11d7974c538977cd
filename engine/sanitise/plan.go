package sanitise

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A Plan applies a rule set to a dump as it streams past: the engine reads
// each table's columns and each row's values from its dump format and
// hands them here, and writes on only what comes back. So no original
// value of a transformed column, and no row a filter removes, ever reaches
// the staging server (its tables, WAL or temp files), and nothing rewrites
// the rows after the restore.
//
// It fails closed: a table or column the rule set does not name (unless
// it says unlisted: keep), a rule that cannot be applied to a value, or a
// value of a kept column that looks like personal data (an e-mail address
// in a column kept as it is) fails the run. Once it has failed, the engine
// stops writing rows and reads on only to count, so the error can name
// every unnamed column and every finding.
type Plan struct {
	rules *Rules
	key   string
	now   time.Time

	failed atomic.Bool

	mu       sync.Mutex
	tables   map[string]*TableReport
	unlisted []string
	findings map[string]int // "table.column: kind" -> values
	problems []string       // rules that could not be applied
	seen     map[string]bool
}

// TableReport is what the plan did to one table (collection): rows (or
// documents) seen, rows with a value transformed, rows filtered out, and
// values of kept columns scanned. Counts only, never values.
type TableReport struct {
	Rows        int64 `json:"rows"`
	Transformed int64 `json:"transformed"`
	Filtered    int64 `json:"filtered"`
	Scanned     int64 `json:"scanned"`
}

// Report is a plan's per-table counts and the rule set it applied.
type Report struct {
	RulesSHA256 string                  `json:"rules_sha256"`
	Tables      map[string]*TableReport `json:"tables"`
}

// NewPlan starts applying rules. hashKey (ENVSYNC_HASH_KEY) keys every
// transformer; now is the run's start, for filters that compare dates.
func NewPlan(rules *Rules, hashKey string, now time.Time) (*Plan, error) {
	if len(hashKey) < 16 {
		return nil, errors.New("sanitising in the stream needs ENVSYNC_HASH_KEY (16 characters or more, the same on every host) in the worker's environment: every transformer is keyed by it")
	}
	return &Plan{rules: rules, key: hashKey, now: now, tables: map[string]*TableReport{}, findings: map[string]int{}, seen: map[string]bool{}}, nil
}

// Column is a table's column as the dump defines it.
type Column struct {
	Name string
	// Limit is how many characters it holds (varchar(n)); 0: no limit.
	Limit int
}

// target finds the rules for a table: by its name, or, for PostgreSQL's
// public schema, its name without the schema.
func (p *Plan) target(table string) (*Target, string) {
	for i, t := range p.rules.Tables {
		if t.Name == table || "public."+t.Name == table {
			return &p.rules.Tables[i], t.Name
		}
	}
	for i, t := range p.rules.Collections {
		if t.Name == table {
			return &p.rules.Collections[i], t.Name
		}
	}
	return nil, table
}

// Inventory checks a dump's tables and columns against the rule set
// before any row is written, and fails naming every table and column no
// rule names.
func (p *Plan) Inventory(tables map[string][]string) error {
	names := make([]string, 0, len(tables))
	for t := range tables {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		p.unlistedOf(t, tables[t])
	}
	return p.Err()
}

// unlistedOf records the columns of table the rules do not name.
func (p *Plan) unlistedOf(table string, cols []string) {
	if p.rules.Unlisted == UnlistedKeep {
		return
	}
	t, _ := p.target(table)
	// Named as a rule set names it: PostgreSQL's public schema left out.
	table = strings.TrimPrefix(table, "public.")
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case t == nil:
		p.addUnlisted(table + " (the whole table)")
	case t.Empty:
	default:
		for _, c := range cols {
			if !slices.ContainsFunc(t.Rules, func(r Rule) bool { return r.Column == c }) {
				p.addUnlisted(table + "." + c)
			}
		}
	}
}

func (p *Plan) addUnlisted(name string) {
	p.failed.Store(true)
	if !slices.Contains(p.unlisted, name) {
		p.unlisted = append(p.unlisted, name)
	}
}

// Table starts a table's rows. Its rules apply in column order; a table
// or column no rule names fails the plan (see Err).
func (p *Plan) Table(table string, cols []Column) *TableRows {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	p.unlistedOf(table, names)
	t, _ := p.target(table)
	name := table // reports and messages name the table as the dump does
	tr := &TableRows{plan: p, name: name, cols: cols, k: newKeyed(p.key), rules: make([]*Rule, len(cols))}
	p.mu.Lock()
	if p.tables[name] == nil {
		p.tables[name] = &TableReport{}
	}
	tr.report = p.tables[name]
	p.seen[name] = true
	p.mu.Unlock()
	if t == nil {
		tr.empty = p.rules.Unlisted != UnlistedKeep
		return tr
	}
	tr.empty, tr.filter = t.Empty, t.Filter
	tr.memos = make([]*memo, len(cols))
	for i, c := range cols {
		for j := range t.Rules {
			if t.Rules[j].Column == c.Name {
				tr.rules[i] = &t.Rules[j]
				if memoised[t.Rules[j].Kind] {
					tr.memos[i] = newMemo()
				}
			}
		}
	}
	if tr.filter != nil {
		tr.index = map[string]int{}
		for i, c := range cols {
			tr.index[c.Name] = i
		}
		for _, c := range tr.filter.Columns() {
			if _, ok := tr.index[c]; !ok {
				p.problem(fmt.Sprintf("%s.delete_where: no column %s in the dump", name, c))
			}
		}
	}
	for _, r := range t.Rules {
		if len(cols) > 0 && !slices.ContainsFunc(cols, func(c Column) bool { return c.Name == r.Column }) {
			p.problem(fmt.Sprintf("%s.%s: no such column in the dump", name, r.Column))
		}
	}
	return tr
}

// Fork returns rows of the same table for another goroutine: the same
// rules, with its own digest, memos and counts. An engine that spreads a
// table's rows over several goroutines gives each a fork and calls Settle
// after each batch, so the plan's report adds up to the same counts as one
// TableRows would have. The outputs are the same whichever fork computes
// them: every transformer depends on the key and the value alone.
func (t *TableRows) Fork() *TableRows {
	f := *t
	f.k = newKeyed(t.plan.key)
	f.report, f.shared = &TableReport{}, t.report
	f.row, f.byPath = nil, nil
	f.memos = make([]*memo, len(t.memos))
	for i, m := range t.memos {
		if m != nil {
			f.memos[i] = newMemo()
		}
	}
	return &f
}

// Settle adds a fork's counts since its last Settle to the plan's report.
// A TableRows from Plan.Table counts there directly and need not.
func (t *TableRows) Settle() {
	if t.shared == nil {
		return
	}
	t.plan.mu.Lock()
	t.shared.Rows += t.report.Rows
	t.shared.Transformed += t.report.Transformed
	t.shared.Filtered += t.report.Filtered
	t.shared.Scanned += t.report.Scanned
	t.plan.mu.Unlock()
	*t.report = TableReport{}
}

// Value is one column of a row: its text (as the engine decodes it), or
// NULL.
type Value struct {
	B    []byte
	Null bool
}

// Needs says whether Row reads column i (a rule or a filter names it): the
// engine need not decode the others.
func (t *TableRows) Needs(i int) bool {
	if i < len(t.rules) && t.rules[i] != nil {
		return true
	}
	for _, j := range t.index {
		if j == i {
			return true
		}
	}
	return false
}

// Name is the table's name as the dump gives it.
func (t *TableRows) Name() string { return t.name }

// Misfit fails the plan for a row of n fields in a table of another
// number of columns: a field past the last column would pass unread. It
// says whether the row misfits (the engine then writes none of it).
func (t *TableRows) Misfit(n int) bool {
	if n == len(t.cols) || len(t.cols) == 0 {
		return false
	}
	t.report.Rows++
	t.plan.problem(fmt.Sprintf("%s: a row of %d fields, where the dump names %d columns", t.name, n, len(t.cols)))
	return true
}

// Changes says whether Row may replace column i's value.
func (t *TableRows) Changes(i int) bool {
	return i < len(t.rules) && t.rules[i] != nil && t.rules[i].Kind != "keep"
}

// Empty says no row of the table is written.
func (t *TableRows) Empty() bool { return t.empty }

// TableRows applies a table's rules to its rows, one goroutine at a time.
type TableRows struct {
	plan   *Plan
	name   string
	cols   []Column
	rules  []*Rule // by column; nil: no rule (unlisted)
	empty  bool
	filter *Cond
	index  map[string]int
	k      *keyed
	report *TableReport
	// shared is the plan's report of the table, for a fork (whose own
	// counts are in report until Settle); nil otherwise.
	shared *TableReport
	row    []Value
	byPath map[string]*Rule // documents' rules by field path
	memos  []*memo          // by column (nil: its rule is not memoised)
}

// memo remembers a column's outputs by input: names, postcodes and dates
// repeat, and a lookup costs a fraction of the keyed digest. It turns
// itself off for a column whose values rarely repeat (e-mail addresses).
type memo struct {
	*outputs
	lookups, hits int
}

const (
	memoMax   = 1 << 16 // entries kept per column
	memoBytes = 4 << 20 // bytes of inputs and outputs kept per column (the arena's offsets are 32 bits)
	memoProbe = 1 << 13 // lookups before judging whether it pays
)

func newMemo() *memo { return &memo{outputs: newOutputs()} }

// outputs maps inputs to outputs in one arena of bytes, found by the
// input's hash: a lookup reads one small map and one stretch of the
// arena, where a map of strings to slices reached three allocations
// scattered over the heap, each a cache miss while the dump streams past
// (117 ns a lookup in the profile of a sanitised push).
type outputs struct {
	seed  maphash.Seed
	at    map[uint64]uint32 // hash of an input -> its entry
	ents  []outputEnt
	arena []byte
}

// outputEnt is where an input and its output lie in the arena.
type outputEnt struct{ in, out, inLen, outLen uint32 }

func newOutputs() *outputs {
	return &outputs{seed: maphash.MakeSeed(), at: map[uint64]uint32{}}
}

func (o *outputs) len() int { return len(o.ents) }

// fits says whether v and its output out may still be remembered.
func (o *outputs) fits(v, out []byte) bool {
	return len(o.ents) < memoMax && len(o.arena)+len(v)+len(out) <= memoBytes
}

// get returns v's output, if remembered; the caller must not change it.
func (o *outputs) get(v []byte) ([]byte, bool) {
	i, ok := o.at[maphash.Bytes(o.seed, v)]
	if !ok {
		return nil, false
	}
	e := o.ents[i]
	if !bytes.Equal(o.arena[e.in:e.in+e.inLen], v) {
		return nil, false // another input with the same hash
	}
	return o.arena[e.out : e.out+e.outLen : e.out+e.outLen], true
}

// put remembers v's output (the first of two inputs with one hash wins).
func (o *outputs) put(v, out []byte) {
	h := maphash.Bytes(o.seed, v)
	if _, ok := o.at[h]; ok {
		return
	}
	e := outputEnt{in: uint32(len(o.arena)), inLen: uint32(len(v))}
	o.arena = append(o.arena, v...)
	e.out, e.outLen = uint32(len(o.arena)), uint32(len(out))
	o.arena = append(o.arena, out...)
	o.at[h] = uint32(len(o.ents))
	o.ents = append(o.ents, e)
}

// memoised are the transformers whose output depends on the input alone
// and is a fresh slice: safe to hand out again.
var memoised = map[string]bool{"email": true, "name": true, "phone": true, "digits": true, "postcode": true, "date_shift": true, "hash": true}

// transform applies column i's rule r to v, through the column's memo.
func (t *TableRows) transform(i int, r *Rule, v []byte) ([]byte, bool, error) {
	m := t.memos[i]
	if m != nil && m.outputs != nil {
		m.lookups++
		if out, ok := m.get(v); ok {
			m.hits++
			return out, false, nil
		}
		if m.lookups == memoProbe && m.hits < memoProbe/8 {
			m.outputs = nil // mostly distinct values: the digest alone is cheaper
		}
	}
	out, null, err := t.k.apply(r, v, t.cols[i].Limit)
	if err == nil && !null && m != nil && m.outputs != nil && m.fits(v, out) {
		m.put(v, out)
	}
	return out, null, err
}

// Row applies the rules to one row in place and says whether to write it.
// A row is not written once the plan has failed.
func (t *TableRows) Row(vals []Value) bool {
	t.report.Rows++
	if t.empty {
		t.report.Filtered++
		return false
	}
	if t.filter != nil {
		t.row = vals
		if t.filter.Match(t.lookup, t.plan.now) {
			t.report.Filtered++
			return false
		}
	}
	changed := false
	for i := range vals {
		if i >= len(t.rules) {
			break
		}
		r := t.rules[i]
		if r == nil || r.Kind == "keep" {
			if r != nil && !vals[i].Null {
				t.scan(i, r, vals[i].B)
			}
			continue
		}
		if vals[i].Null {
			continue
		}
		out, null, err := t.transform(i, r, vals[i].B)
		if err != nil {
			t.plan.problem(fmt.Sprintf("%s.%s (%s): %v", t.name, r.Column, r.Kind, err))
			return false
		}
		vals[i] = Value{B: out, Null: null}
		changed = true
	}
	if changed {
		t.report.Transformed++
	}
	return !t.plan.failed.Load()
}

func (t *TableRows) lookup(col string) (string, bool) {
	i := t.index[col]
	if i >= len(t.row) {
		return "", true
	}
	return string(t.row[i].B), t.row[i].Null
}

// scan looks for personal data in a kept value.
func (t *TableRows) scan(i int, r *Rule, v []byte) {
	t.report.Scanned++
	found := Scan(v)
	if found != 0 {
		found &^= kindBits(r.Allow) // only then: nearly every value has none
	}
	if found == 0 {
		return
	}
	t.plan.mu.Lock()
	defer t.plan.mu.Unlock()
	t.plan.failed.Store(true)
	for _, k := range kindsOf(found) {
		t.plan.findings[t.name+"."+t.cols[i].Name+": "+k]++
	}
}

func (p *Plan) problem(s string) {
	p.failed.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.problems, s) && len(p.problems) < 20 {
		p.problems = append(p.problems, s)
	}
}

// Refuse fails the plan for a reason the stream found: rows in a form
// the engine cannot read, and so cannot sanitise. reason names no value.
func (p *Plan) Refuse(reason string) { p.problem(reason) }

// Unnamed fails the plan for something the dump holds that no rule can
// name (PostgreSQL's large objects): it would pass as it is, so the run
// stops, unless the rule set says unlisted: keep. what names it and how to
// take it out of the dump; never a value.
func (p *Plan) Unnamed(what string) {
	if p.rules.Unlisted == UnlistedKeep {
		return
	}
	p.problem(what + ": no rule can name it, so it would reach staging as it is; take it out of the source, or set unlisted: keep in the rule set to let it through")
}

// Failed says whether the run must stop: the engine writes no more rows.
func (p *Plan) Failed() bool { return p.failed.Load() }

// Finish checks what only the end of the stream shows (tables the rules
// name that the dump did not have) and returns the plan's error, if any.
func (p *Plan) Finish() error {
	for _, ts := range [][]Target{p.rules.Tables, p.rules.Collections} {
		for _, t := range ts {
			if !p.seen[t.Name] && !p.seen["public."+t.Name] {
				p.problem(fmt.Sprintf("%s: no such table in the dump", t.Name))
			}
		}
	}
	return p.Err()
}

// Err is why the plan failed, naming every unnamed column, every finding
// (table, column, kind and how many values; never a value) and every rule
// that could not be applied; nil when it has not.
func (p *Plan) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	if len(p.unlisted) > 0 {
		parts = append(parts, fmt.Sprintf("rule set %s does not name %s: add each to it (a transformer, keep, or the table as empty; `envsync sanitise init --update %s` writes them), or set unlisted: keep to let what no rule names through as it is",
			p.rules.Path, strings.Join(p.unlisted, ", "), p.rules.Path))
	}
	if len(p.findings) > 0 {
		var f []string
		for k, n := range p.findings {
			f = append(f, fmt.Sprintf("%s in %d values", k, n))
		}
		sort.Strings(f)
		parts = append(parts, "personal data in columns (fields) kept as they are: "+strings.Join(f, "; ")+
			" (transform the column, or allow the kind with keep: {allow: [kind]} if it is meant to be there)")
	}
	if len(p.problems) > 0 {
		parts = append(parts, "rules that cannot be applied: "+strings.Join(p.problems, "; "))
	}
	if len(parts) == 0 {
		return nil
	}
	return &PlanError{Msg: strings.Join(parts, "; ")}
}

// PlanError is a sanitising plan that failed: retrying the same dump with
// the same rules fails the same way.
type PlanError struct{ Msg string }

func (e *PlanError) Error() string { return "sanitise: " + e.Msg }

// Report is the counts so far.
func (p *Plan) Report() Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := Report{RulesSHA256: p.rules.SHA256, Tables: map[string]*TableReport{}}
	for k, v := range p.tables {
		c := *v
		r.Tables[k] = &c
	}
	return r
}

// Filtered is how many rows of table the plan removed.
func (p *Plan) Filtered(table string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.tables[table]; t != nil {
		return t.Filtered
	}
	return 0
}

// Documents (MongoDB, Elasticsearch) have no fixed columns: their engines
// walk each document and hand every leaf value here by its field path
// (profile.email; an array's elements under the array's path). A rule on
// a path covers the fields below it too (address: lorem, or keep).

// Document starts a document of the collection: it counts it and says
// whether to read it (not for an emptied collection). Whether to write it
// is Done's to say.
func (t *TableRows) Document() bool {
	t.report.Rows++
	if t.empty {
		t.report.Filtered++
		return false
	}
	return true
}

// Field applies the rule covering path to one leaf value of a document,
// returning the value to write. A path no rule covers is recorded as
// unlisted (unless the rule set says unlisted: keep) and fails the plan.
func (t *TableRows) Field(path string, v Value) (Value, bool) {
	r := t.ruleFor(path)
	if r == nil {
		if t.plan.rules.Unlisted != UnlistedKeep {
			t.plan.mu.Lock()
			t.plan.addUnlisted(t.name + "." + path)
			t.plan.mu.Unlock()
		}
		return v, false
	}
	if r.Kind == "keep" {
		if !v.Null {
			t.scanWith(path, r, v.B)
		}
		return v, false
	}
	if v.Null {
		return v, false
	}
	out, null, err := t.k.apply(r, v.B, 0)
	if err != nil {
		t.plan.problem(fmt.Sprintf("%s.%s (%s): %v", t.name, path, r.Kind, err))
		return v, false
	}
	return Value{B: out, Null: null}, true
}

// Done ends a document (changed: a field of it was transformed) and says
// whether to write it: not once the plan has failed, on this document's
// fields or earlier.
func (t *TableRows) Done(changed bool) bool {
	if changed {
		t.report.Transformed++
	}
	return !t.plan.failed.Load()
}

// ruleFor is the rule on path or on the nearest path above it.
func (t *TableRows) ruleFor(path string) *Rule {
	if t.byPath == nil {
		t.byPath = map[string]*Rule{}
		if tg, _ := t.plan.target(t.name); tg != nil {
			for i := range tg.Rules {
				t.byPath[tg.Rules[i].Column] = &tg.Rules[i]
			}
		}
	}
	for p := path; ; {
		if r, ok := t.byPath[p]; ok {
			return r
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return nil
		}
		p = p[:i]
	}
}

// scanWith scans a kept value under a path's rule.
func (t *TableRows) scanWith(path string, r *Rule, v []byte) {
	t.report.Scanned++
	found := Scan(v)
	if found != 0 {
		found &^= kindBits(r.Allow) // only then: nearly every value has none
	}
	if found == 0 {
		return
	}
	t.plan.failed.Store(true)
	t.plan.mu.Lock()
	defer t.plan.mu.Unlock()
	for _, k := range kindsOf(found) {
		t.plan.findings[t.name+"."+path+": "+k]++
	}
}

// Expect records a field path a collection's schema declares (an index's
// mapping): one no rule covers fails the plan before any document is read.
func (t *TableRows) Expect(path string) {
	if t.ruleFor(path) == nil && t.plan.rules.Unlisted != UnlistedKeep && !t.empty {
		t.plan.mu.Lock()
		t.plan.addUnlisted(t.name + "." + path)
		t.plan.mu.Unlock()
	}
}
