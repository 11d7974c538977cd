package sanitise

import (
	"bytes"
	"regexp"
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
	at, upper, digits, dots, maxRun := sh.at, sh.upper, sh.digits, sh.dots, sh.maxRun
	if at && emailRe.Match(v) {
		found |= 1 << 0
	}
	if maxRun >= 10 && phoneRe.Match(v) {
		found |= 1 << 1
	}
	if upper && digits >= 2 && postcodeRe.Match(v) {
		found |= 1 << 2
	}
	if upper && digits >= 6 && niRe.Match(v) {
		found |= 1 << 3
	}
	if maxRun >= 13 {
		if m := cardRe.Find(v); m != nil && luhn(m) {
			found |= 1 << 4
		}
	}
	if dots >= 3 && digits >= 4 && ipRe.Match(v) {
		found |= 1 << 5
	}
	return found
}

// shape is what one pass over a value learns: whether it has an @ and
// upper-case letters, how many digits and dots, and its longest run of
// digits spaced by single separators (whitespace or a dash).
type shape struct {
	at, upper            bool
	digits, dots, maxRun int
}

func shapeOf(v []byte) (s shape) {
	run, sep := 0, false
	for _, c := range v {
		switch {
		case c >= '0' && c <= '9':
			s.digits++
			run++
			sep = false
			s.maxRun = max(s.maxRun, run)
			continue
		case c == '@':
			s.at = true
		case c == '.':
			s.dots++
		case c >= 'A' && c <= 'Z':
			s.upper = true
		}
		if (c == ' ' || c == '-' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') && run > 0 && !sep {
			sep = true // one separator may sit inside a number
			continue
		}
		run, sep = 0, false
	}
	return s
}

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
