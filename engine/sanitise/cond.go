package sanitise

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Cond is a row filter the stream evaluates as rows pass, so the rows it
// removes never reach the staging server: a small language of column
// comparisons joined by and/or, e.g.
//
//	status = 'deleted' or (access_limited = true and created_at older than 2y)
//
// Comparisons: = != <> < <= > >= with a 'string', a number or true/false;
// is [not] null; [not] in ('a', 'b'); older than / newer than a duration
// (30d, 12w, 6m, 2y: days, weeks, months, years before the run's start).
// A delete_where that is not in this language is free SQL, run after the
// restore.
type Cond struct {
	op       string // and, or, not, cmp, null, notnull, in, notin, older, newer
	kids     []*Cond
	col      string
	cmp      string
	lit      literal
	list     []literal
	duration time.Duration // older, newer
}

type literal struct {
	s     string
	num   float64
	isNum bool
	isStr bool
}

// ParseCond reads a condition in the stream's language; ok is false (with
// no error) for text that is not one, which is then SQL for after the
// restore.
func ParseCond(s string) (c *Cond, ok bool) {
	p := &condParser{toks: lexCond(s)}
	if p.toks == nil {
		return nil, false
	}
	c, err := p.or()
	if err != nil || p.i != len(p.toks) {
		return nil, false
	}
	return c, true
}

// Columns are the columns the condition reads.
func (c *Cond) Columns() []string {
	var out []string
	if c.col != "" {
		out = append(out, c.col)
	}
	for _, k := range c.kids {
		out = append(out, k.Columns()...)
	}
	return out
}

// Row is what a condition reads of a row: the value of a column, and
// whether it is NULL.
type Row func(col string) (value string, null bool)

// Match says whether row matches (and so is removed). now is the run's
// start, for older than and newer than.
func (c *Cond) Match(row Row, now time.Time) bool {
	switch c.op {
	case "and":
		return c.kids[0].Match(row, now) && c.kids[1].Match(row, now)
	case "or":
		return c.kids[0].Match(row, now) || c.kids[1].Match(row, now)
	case "not":
		return !c.kids[0].Match(row, now)
	}
	v, null := row(c.col)
	switch c.op {
	case "null":
		return null
	case "notnull":
		return !null
	}
	if null {
		return false // as SQL: a comparison with NULL is not true
	}
	switch c.op {
	case "in", "notin":
		in := false
		for _, l := range c.list {
			if compare(v, l) == 0 {
				in = true
			}
		}
		return in == (c.op == "in")
	case "older", "newer":
		t, ok := parseTime(v)
		if !ok {
			return false
		}
		cut := now.Add(-c.duration)
		if c.op == "older" {
			return t.Before(cut)
		}
		return t.After(cut)
	}
	r := compare(v, c.lit)
	switch c.cmp {
	case "=":
		return r == 0
	case "!=", "<>":
		return r != 0
	case "<":
		return r < 0
	case "<=":
		return r <= 0
	case ">":
		return r > 0
	case ">=":
		return r >= 0
	}
	return false
}

// compare compares a column's text with a literal: as numbers when both
// are, as booleans for true/false (PostgreSQL writes t and f), else as
// text.
func compare(v string, l literal) int {
	if l.isNum {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			switch {
			case f < l.num:
				return -1
			case f > l.num:
				return 1
			}
			return 0
		}
	}
	if !l.isStr && (l.s == "true" || l.s == "false") {
		b := strings.ToLower(v)
		truth := b == "t" || b == "true" || b == "1"
		if truth == (l.s == "true") {
			return 0
		}
		return 1
	}
	return strings.Compare(v, l.s)
}

// parseTime reads the dates and timestamps databases write as text.
func parseTime(v string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

type condParser struct {
	toks []string
	i    int
}

func (p *condParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *condParser) next() string { t := p.peek(); p.i++; return t }

func (p *condParser) word(w string) bool {
	if strings.EqualFold(p.peek(), w) {
		p.i++
		return true
	}
	return false
}

func (p *condParser) or() (*Cond, error) {
	l, err := p.and()
	for err == nil && p.word("or") {
		var r *Cond
		if r, err = p.and(); err == nil {
			l = &Cond{op: "or", kids: []*Cond{l, r}}
		}
	}
	return l, err
}

func (p *condParser) and() (*Cond, error) {
	l, err := p.factor()
	for err == nil && p.word("and") {
		var r *Cond
		if r, err = p.factor(); err == nil {
			l = &Cond{op: "and", kids: []*Cond{l, r}}
		}
	}
	return l, err
}

func (p *condParser) factor() (*Cond, error) {
	if p.word("not") {
		c, err := p.factor()
		return &Cond{op: "not", kids: []*Cond{c}}, err
	}
	if p.peek() == "(" {
		p.next()
		c, err := p.or()
		if err == nil && p.next() != ")" {
			err = fmt.Errorf("missing )")
		}
		return c, err
	}
	return p.comparison()
}

func (p *condParser) comparison() (*Cond, error) {
	col := p.next()
	if !identRe.MatchString(col) || isKeyword(col) {
		return nil, fmt.Errorf("%q is not a column", col)
	}
	c := &Cond{col: col}
	switch op := p.next(); {
	case strings.EqualFold(op, "is"):
		c.op = "null"
		if p.word("not") {
			c.op = "notnull"
		}
		if !p.word("null") {
			return nil, fmt.Errorf("is takes null")
		}
	case strings.EqualFold(op, "not") && p.word("in"):
		c.op = "notin"
		return c, p.list(c)
	case strings.EqualFold(op, "in"):
		c.op = "in"
		return c, p.list(c)
	case strings.EqualFold(op, "older") || strings.EqualFold(op, "newer"):
		c.op = strings.ToLower(op)
		if !p.word("than") {
			return nil, fmt.Errorf("%s takes than", op)
		}
		d, err := parseDuration(p.next())
		c.duration = d
		return c, err
	case slicesContains([]string{"=", "!=", "<>", "<", "<=", ">", ">="}, op):
		c.op, c.cmp = "cmp", op
		l, err := p.literal()
		c.lit = l
		return c, err
	default:
		return nil, fmt.Errorf("unknown operator %q", op)
	}
	return c, nil
}

func (p *condParser) list(c *Cond) error {
	if p.next() != "(" {
		return fmt.Errorf("in takes a list")
	}
	for {
		l, err := p.literal()
		if err != nil {
			return err
		}
		c.list = append(c.list, l)
		switch p.next() {
		case ",":
			continue
		case ")":
			return nil
		default:
			return fmt.Errorf("bad list")
		}
	}
}

func (p *condParser) literal() (literal, error) {
	t := p.next()
	switch {
	case strings.HasPrefix(t, "'"):
		return literal{s: strings.ReplaceAll(t[1:len(t)-1], "''", "'"), isStr: true}, nil
	case strings.EqualFold(t, "true") || strings.EqualFold(t, "false"):
		return literal{s: strings.ToLower(t)}, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return literal{}, fmt.Errorf("%q is not a value", t)
	}
	return literal{s: t, num: f, isNum: true}, nil
}

// parseDuration reads 30d, 12w, 6m, 2y.
func parseDuration(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	day := 24 * time.Hour
	switch s[len(s)-1] {
	case 'd':
		return time.Duration(n) * day, nil
	case 'w':
		return time.Duration(n) * 7 * day, nil
	case 'm':
		return time.Duration(n) * 30 * day, nil
	case 'y':
		return time.Duration(n) * 365 * day, nil
	}
	return 0, fmt.Errorf("bad duration %q: a number and d, w, m or y", s)
}

func isKeyword(s string) bool {
	return slicesContains([]string{"and", "or", "not", "is", "null", "in", "older", "newer", "than", "true", "false"}, strings.ToLower(s))
}

func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// lexCond splits a condition into tokens: 'strings', words, numbers,
// durations and operators; nil for text with anything else in it (SQL).
func lexCond(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '\'':
			j := i + 1
			for ; j < len(s); j++ {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						j++
						continue
					}
					break
				}
			}
			if j >= len(s) {
				return nil
			}
			toks = append(toks, s[i:j+1])
			i = j + 1
		case strings.ContainsRune("(),", rune(c)):
			toks = append(toks, string(c))
			i++
		case strings.ContainsRune("=<>!", rune(c)):
			j := i + 1
			if j < len(s) && strings.ContainsRune("=>", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		case c == '-' || c == '.' || c == '_' || unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)):
			j := i + 1
			for j < len(s) && (s[j] == '.' || s[j] == '_' || s[j] == '$' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil
		}
	}
	return toks
}
