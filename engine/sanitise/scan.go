package sanitise

import (
	"bytes"
	"encoding/binary"
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
// ScanKinds order; 0: none). Cheap looks first find what each kind needs
// (an @ and dots, found as memchr does; upper-case letters, eight bytes at
// a time; runs of ten digits or more, reading one byte in ten; digits,
// counted only when a kind still could be there), so a regular expression
// runs only where its kind could be. Every kept value of a sanitised dump
// passes here: this is the sanitiser's hottest loop.
func Scan(v []byte) (found uint8) {
	if bytes.IndexByte(v, '@') >= 0 && emailRe.Match(v) {
		found |= 1 << 0
	}
	sh := runsOf(v)
	if sh.maxRun >= 10 && sh.inRuns(v, 10, phoneRe) {
		found |= 1 << 1
	}
	digits := -1 // counted when a kind needs them
	if hasUpper(v) {
		digits = countDigits(v)
		if digits >= 2 && postcodeRe.Match(v) {
			found |= 1 << 2
		}
		if digits >= 6 && niRe.Match(v) {
			found |= 1 << 3
		}
	}
	if sh.maxRun >= 13 && sh.inRuns(v, 13, cardRe, luhn) {
		found |= 1 << 4
	}
	if bytes.Count(v, []byte{'.'}) >= 3 {
		if digits < 0 {
			digits = countDigits(v)
		}
		if digits >= 4 && ipRe.Match(v) {
			found |= 1 << 5
		}
	}
	return found
}

// runsOf finds the runs of 10 digits or more (spaced by single
// separators) without reading every byte: such a run spans at least 10
// bytes that are all digits or separators, so one byte in every 10 lies
// in it. Only the stretches of digits and separators around those bytes
// are read; maxRun is exact when it is 10 or more (all Scan asks).
func runsOf(v []byte) (s shape) {
	const stride = 10
	for i := stride - 1; i < len(v); {
		if c := class[v[i]]; c != cDigit && c != cSep {
			i += stride
			continue
		}
		a, b := i, i+1
		for a > 0 && (class[v[a-1]] == cDigit || class[v[a-1]] == cSep) {
			a--
		}
		for b < len(v) && (class[v[b]] == cDigit || class[v[b]] == cSep) {
			b++
		}
		if b-a >= stride {
			// Shorter stretches hold no run of 10 digits: most of a
			// text's numbers (and of a hex digest's) end here.
			s.stretch(v, a, b)
		}
		i = b + stride // v[b] is neither: a run after it starts at b+1
	}
	return s
}

// stretch reads the runs of v[a:b], bytes that are all digits or
// separators: a separator may sit between two digits of a run; two end it.
func (s *shape) stretch(v []byte, a, b int) {
	run, start, end, sep := 0, 0, 0, false
	for i := a; i < b; i++ {
		if class[v[i]] == cDigit {
			if run == 0 {
				start = i
			}
			run++
			sep = false
			end = i + 1
			continue
		}
		if run > 0 {
			if !sep {
				sep = true
				continue
			}
			s.addRun(run, start, end)
			run, sep = 0, false
		}
	}
	if run > 0 {
		s.addRun(run, start, end)
	}
}

// hasUpper says whether v holds an upper-case ASCII letter, eight bytes at
// a time.
func hasUpper(v []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(v) >= 8 {
		x := binary.LittleEndian.Uint64(v)
		y := x &^ highs // so no byte carries into the next below
		ge := y + (0x80-'A')*ones
		gt := y + (0x80-'Z'-1)*ones
		if ge&^gt&^x&highs != 0 {
			return true
		}
		v = v[8:]
	}
	for _, c := range v {
		if c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

func countDigits(v []byte) int {
	n := 0
	for _, c := range v {
		if c-'0' < 10 {
			n++
		}
	}
	return n
}

// shape is where a value's runs of digits spaced by single separators
// (whitespace or a dash) are: phone and card numbers are such runs, so
// their expressions need only look there, not along a whole text.
type shape struct {
	maxRun int
	runs   [8][2]int // start and end of the runs of 10 digits or more
	nruns  int       // how many such runs; more than len(runs): look everywhere
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
	cSep
)

// class sorts bytes for runsOf (digits, separators, the rest): one table
// lookup a byte.
var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
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
