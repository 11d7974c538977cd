package sanitise

import (
	"bytes"
	"regexp"
	"slices"
)

// Kinds of personal data the scanner finds by content: what a value of a
// column kept as it is must not look like (unless its rule allows the
// kind), and what `envsync sanitise init` looks for when it samples.
const (
	KindEmail    = "email"
	KindPhone    = "phone"
	KindPostcode = "postcode"
	KindNI       = "ni_number"
	KindCard     = "card_number"
	KindIP       = "ip_address"
)

// ScanKinds lists the kinds Scan finds.
var ScanKinds = []string{KindEmail, KindPhone, KindPostcode, KindNI, KindCard, KindIP}

var (
	emailRe = regexp.MustCompile(`[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	// UK numbers: 07 and nine more digits (mobiles), 01, 02 or 03 and
	// eight or nine more, spaced anyhow; +44 for the 0.
	phoneRe    = regexp.MustCompile(`(?:\+44\s?|\b0)(?:7(?:\s?\d){9}|[123](?:\s?\d){8,9})\b`)
	postcodeRe = regexp.MustCompile(`\b(?:[A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKPSTUW]?) ?[0-9][ABD-HJLNP-UW-Z]{2}\b`)
	niRe       = regexp.MustCompile(`\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b`)
	cardRe     = regexp.MustCompile(`\b(?:\d[ -]?){12,18}\d\b`)
	ipRe       = regexp.MustCompile(`\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b`)
)

// Scan says which kinds of personal data v holds (a bit per kind, in
// ScanKinds order; 0: none). One pass over the bytes first counts what
// each kind needs (an @, upper-case letters, dots, digits, the longest run
// of digits spaced by single spaces or dashes), so a regular expression
// runs only where its kind could be: the common value (a number, a word,
// a timestamp) costs that one pass.
func Scan(v []byte) (found uint8) {
	sh := shapeOf(v)
	if sh.at && emailRe.Match(v) {
		found |= 1 << 0
	}
	if sh.maxRun >= 10 && sh.inRuns(v, 10, phoneRe) {
		found |= 1 << 1
	}
	if sh.upper && sh.digits >= 2 && postcodeRe.Match(v) {
		found |= 1 << 2
	}
	if sh.upper && sh.digits >= 6 && niRe.Match(v) {
		found |= 1 << 3
	}
	if sh.maxRun >= 13 && sh.inRuns(v, 13, cardRe, luhn) {
		found |= 1 << 4
	}
	if sh.dots >= 3 && sh.digits >= 4 && ipRe.Match(v) {
		found |= 1 << 5
	}
	return found
}

// shape is what one pass over a value learns: whether it has an @ and
// upper-case letters, how many digits and dots, and where its runs of
// digits spaced by single separators (whitespace or a dash) are: phone
// and card numbers are such runs, so their expressions need only look
// there, not along a whole text.
type shape struct {
	at, upper            bool
	digits, dots, maxRun int
	runs                 [8][2]int // start and end of the runs of 10 digits or more
	nruns                int       // how many such runs; more than len(runs): look everywhere
}

// inRuns reports whether re matches (and every check passes on the match)
// around a run of at least least digits where a number can start (the
// run's start after a non-word byte, or after a separator inside it;
// phones: a 0 there, or +44 before the run). It looks only at the run and
// the bytes just before and after it, so word boundaries read as in v.
func (s *shape) inRuns(v []byte, least int, re *regexp.Regexp, checks ...func([]byte) bool) bool {
	phone := re == phoneRe
	ok := func(w []byte) bool {
		for _, loc := range re.FindAllIndex(w, -1) {
			if !slices.ContainsFunc(checks, func(c func([]byte) bool) bool { return !c(w[loc[0]:loc[1]]) }) {
				return true
			}
		}
		return false
	}
	if s.nruns > len(s.runs) {
		return ok(v)
	}
	for _, r := range s.runs[:s.nruns] {
		if r[1]-r[0] < least || !canStart(v, r, phone) {
			continue
		}
		if ok(v[max(r[0]-4, 0):min(r[1]+1, len(v))]) {
			return true
		}
	}
	return false
}

// canStart says whether a number can begin in run r of v.
func canStart(v []byte, r [2]int, phone bool) bool {
	if r[0] > 0 && v[r[0]-1] == '+' {
		return true
	}
	for p := r[0]; p < r[1]; p++ {
		switch {
		case p == r[0] && r[0] > 0 && isWord(v[r[0]-1]):
			continue // "ab123...": no word boundary before the run
		case p > r[0] && class[v[p-1]] != cSep:
			continue
		case phone && v[p] != '0':
			continue
		}
		return true
	}
	return false
}

func isWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func shapeOf(v []byte) (s shape) {
	run, start, end, sep := 0, 0, 0, false
	for i, b := range v {
		c := class[b]
		if c == cDigit {
			if run == 0 {
				start = i
			}
			s.digits++
			run++
			sep = false
			end = i + 1
			continue
		}
		if run > 0 {
			if c == cSep && !sep {
				sep = true // one separator may sit inside a number
				continue
			}
			s.addRun(run, start, end)
			run, sep = 0, false
		}
		switch c {
		case cAt:
			s.at = true
		case cDot:
			s.dots++
		case cUpper:
			s.upper = true
		}
	}
	if run > 0 {
		s.addRun(run, start, end)
	}
	return s
}

func (s *shape) addRun(n, start, end int) {
	s.maxRun = max(s.maxRun, n)
	if n < 10 {
		return
	}
	if s.nruns < len(s.runs) {
		s.runs[s.nruns] = [2]int{start, end}
	}
	s.nruns++
}

const (
	cOther = iota
	cDigit
	cAt
	cDot
	cUpper
	cSep
)

// class sorts bytes for shapeOf: one table lookup a byte.
var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = cUpper
	}
	t['@'], t['.'] = cAt, cDot
	for _, c := range " -\t\n\r\f\v" {
		t[c] = cSep
	}
	return t
}()

// kindsOf names the bits of a Scan result.
func kindsOf(found uint8) []string {
	var out []string
	for i, k := range ScanKinds {
		if found&(1<<i) != 0 {
			out = append(out, k)
		}
	}
	return out
}

// kindBits is the Scan bits of kinds.
func kindBits(kinds []string) uint8 {
	var b uint8
	for i, k := range ScanKinds {
		for _, w := range kinds {
			if w == k {
				b |= 1 << i
			}
		}
	}
	return b
}

// luhn checks the digits of s (spaces and dashes skipped) with the Luhn
// sum that payment card numbers carry.
func luhn(s []byte) bool {
	d := bytes.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	if len(d) < 13 || len(d) > 19 {
		return false
	}
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if (len(d)-1-i)%2 == 1 {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return sum%10 == 0
}
