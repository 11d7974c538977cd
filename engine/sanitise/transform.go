package sanitise

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Transformers are deterministic: keyed by ENVSYNC_HASH_KEY (HMAC-SHA256),
// the same input gives the same output in every table, every run and every
// engine, so joins, repeated values and yesterday's staging still agree.
// They keep the value's format where they can (a phone number stays a
// phone number), and never write more characters than the column holds.

// keyed makes the keyed digests the transformers draw their output from.
// One per stream: it is not safe for concurrent use.
type keyed struct {
	mac hash.Hash
	buf []byte
	// in holds a value's normalised form (lower-cased, digits only) on
	// its way into the digest, reused value after value.
	in []byte
	// msg is what the digest is taken of, kind NUL value, in one buffer:
	// one write into the MAC costs a sixth less than three.
	msg []byte
}

func newKeyed(key string) *keyed {
	return &keyed{mac: hmac.New(sha256.New, []byte(key))}
}

// sum is HMAC(key, kind NUL value): kind keeps one transformer's output
// unrelated to another's for the same value.
func (k *keyed) sum(kind string, v []byte) []byte {
	k.msg = append(append(append(k.msg[:0], kind...), 0), v...)
	k.mac.Reset()
	k.mac.Write(k.msg)
	k.buf = k.mac.Sum(k.buf[:0])
	return k.buf
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// errNotApplicable is a value a format-keeping rule cannot read (a
// date_shift of "soon"): the run stops rather than keep it.
var errNotApplicable = errors.New("the value is not in a form the rule can transform")

// apply transforms v by r. limit is the column's length in characters (0:
// none). A nil result with null true is NULL.
func (k *keyed) apply(r *Rule, v []byte, limit int) (out []byte, null bool, err error) {
	switch r.Kind {
	case "keep":
		return v, false, nil
	case "null":
		return nil, true, nil
	case "fixed":
		out = []byte(r.Value)
	case "email":
		out = k.email(v, limit)
	case "name":
		out = k.name(r.Part, v)
	case "phone":
		out = k.phone(v)
	case "digits":
		out = k.digits("digits", v, 0)
	case "postcode":
		out = k.postcode(v)
	case "date_shift":
		if out, err = k.dateShift(v, r.Days); err != nil {
			return nil, false, err
		}
	case "hash":
		h := hex.EncodeToString(k.sum("hash", v))
		if r.Length > 0 && r.Length < len(h) {
			h = h[:r.Length]
		}
		out = []byte(h)
	case "lorem":
		out = lorem(utf8.RuneCount(v))
	case "redact":
		out = k.redact(r, v)
	case "rewrite":
		out = bytes.ReplaceAll(v, []byte(r.From), []byte(r.To))
	case "json":
		if out, err = k.json(r, v); err != nil {
			return nil, false, err
		}
	default:
		return nil, false, fmt.Errorf("unknown transformer %q", r.Kind)
	}
	return cut(out, limit), false, nil
}

// cut shortens b to limit characters.
func cut(b []byte, limit int) []byte {
	if limit <= 0 || len(b) <= limit {
		return b
	}
	n := 0
	for i := range string(b) {
		if n == limit {
			return b[:i]
		}
		n++
	}
	return b
}

// email is anonymous-<12 base32 characters of the digest>@example.com for
// the address lower-cased, so the same address in any case gets the same
// pseudonym and 60 bits keep distinct addresses distinct; a column too
// short for it gets as much of the digest as fits before the domain.
func (k *keyed) email(v []byte, limit int) []byte {
	k.in = appendLower(k.in[:0], bytes.TrimSpace(v))
	s := k.sum("email", k.in)
	const pre, domain = "anonymous-", "@example.com"
	if limit <= 0 || len(pre)+12+len(domain) <= limit {
		// The usual case: 12 characters are the first 60 bits, all in
		// the encoding of the digest's first 10 bytes.
		var d [16]byte
		b32.Encode(d[:], s[:10])
		out := make([]byte, 0, len(pre)+12+len(domain))
		return append(append(append(out, pre...), d[:12]...), domain...)
	}
	d := b32.EncodeToString(s)
	n := max(limit-len(domain), 1)
	out := d[:min(n, len(d))] + domain
	if len(out) > limit {
		out = d[:limit]
	}
	return []byte(out)
}

// appendLower appends v lower-cased, as bytes.ToLower does, without a new
// slice for the usual (ASCII) value.
func appendLower(dst, v []byte) []byte {
	for _, c := range v {
		if c >= 0x80 {
			// Not ASCII: bytes.ToLower knows the rest of Unicode.
			return append(dst, bytes.ToLower(v)...)
		}
	}
	for _, c := range v {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// name picks from the built-in lists: first, last or full (default).
func (k *keyed) name(part string, v []byte) []byte {
	k.in = appendLower(k.in[:0], bytes.TrimSpace(v))
	s := k.sum("name", k.in)
	first := firstNames[binary.BigEndian.Uint32(s[0:4])%uint32(len(firstNames))]
	last := lastNames[binary.BigEndian.Uint32(s[4:8])%uint32(len(lastNames))]
	switch part {
	case "first":
		return []byte(first)
	case "last":
		return []byte(last)
	}
	return []byte(first + " " + last)
}

// phone keeps what says where a number is (+44 and the first digit after
// it, or 0 and the next: a mobile stays a mobile, a UK number UK) and
// replaces the rest of the digits, keeping the format.
func (k *keyed) phone(v []byte) []byte {
	t := bytes.TrimSpace(v)
	keep := 0
	switch {
	case bytes.HasPrefix(t, []byte("+")):
		keep = 3 // a two-digit country code (+44) and the next digit
	case bytes.HasPrefix(t, []byte("0")):
		keep = 2
	}
	return k.digits("phone", v, keep)
}

// digits replaces every digit of v after the first keep digits (a phone
// keeps its leading 0, or its +4 of +44), keeping everything else: the
// format, spaces and letters (an NI number's).
func (k *keyed) digits(kind string, v []byte, keep int) []byte {
	k.in = k.in[:0]
	for _, c := range v {
		if c >= '0' && c <= '9' {
			k.in = append(k.in, c)
		}
	}
	s := k.sum(kind, k.in)
	out := make([]byte, len(v))
	n := 0
	for i, c := range v {
		if c < '0' || c > '9' {
			out[i] = c
			continue
		}
		if n < keep {
			out[i] = c
		} else {
			out[i] = '0' + s[n%len(s)]%10
		}
		n++
	}
	return out
}

// postcode is a UK-looking postcode (letters, digit, space, digit,
// letters), spaced as v was.
func (k *keyed) postcode(v []byte) []byte {
	s := k.sum("postcode", bytes.ToUpper(bytes.ReplaceAll(v, []byte(" "), nil)))
	const letters = "ABDEFGHJLNPQRSTUWXYZ"
	out := []byte{letters[s[0]%20], letters[s[1]%20], '1' + s[2]%9, ' ', '0' + s[3]%10, letters[s[4]%20], letters[s[5]%20]}
	if !bytes.Contains(v, []byte(" ")) {
		out = append(out[:3], out[4:]...)
	}
	return out
}

var dateRe = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})`)

// dateShift moves the date at the start of v by a stable number of days
// within ±window (at least one day), keeping the rest (a time, a zone).
func (k *keyed) dateShift(v []byte, window int) ([]byte, error) {
	m := dateRe.FindSubmatch(v)
	if m == nil {
		return nil, errNotApplicable
	}
	t, err := time.Parse("2006-01-02", string(m[0]))
	if err != nil {
		return nil, errNotApplicable
	}
	if window <= 0 {
		window = 30
	}
	s := k.sum("date_shift", v[:len(m[0])])
	shift := int(binary.BigEndian.Uint32(s)%uint32(2*window)) - window
	if shift >= 0 {
		shift++ // never 0: the date always moves
	}
	out := append([]byte(t.AddDate(0, 0, shift).Format("2006-01-02")), v[len(m[0]):]...)
	return out, nil
}

const loremText = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua "

// lorem is lorem ipsum of n characters.
func lorem(n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, loremText[:min(len(loremText), n-len(out))]...)
	}
	return out
}

// redact replaces what its pattern matches with [redacted]; with
// pseudonyms, every e-mail address and phone number in a text is replaced
// with that value's own pseudonym, so the text still reads as written and
// names the same (pseudonymous) person the address column does.
func (k *keyed) redact(r *Rule, v []byte) []byte {
	if r.Pseudonyms {
		// The expressions run only where a value could hold a match.
		if bytes.IndexByte(v, '@') >= 0 {
			v = emailRe.ReplaceAllFunc(v, func(m []byte) []byte { return k.email(m, 0) })
		}
		// The runs are found in the text as it is now: a pseudonym of
		// another length has moved the numbers after it.
		if sh := runsOf(v); sh.maxRun >= 10 && sh.inRuns(v, 10, phoneRe) {
			v = phoneRe.ReplaceAllFunc(v, k.phone)
		}
		return v
	}
	return r.re.ReplaceAll(v, []byte("[redacted]"))
}

// json applies rules at paths inside a JSON value: dot-separated keys,
// arrays entered by every element.
func (k *keyed) json(r *Rule, v []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, errNotApplicable
	}
	for _, p := range r.Paths {
		var err error
		if doc, err = k.atPath(doc, strings.Split(p.Column, "."), &p); err != nil {
			return nil, err
		}
	}
	return json.Marshal(doc)
}

func (k *keyed) atPath(doc any, path []string, r *Rule) (any, error) {
	switch d := doc.(type) {
	case []any:
		for i := range d {
			v, err := k.atPath(d[i], path, r)
			if err != nil {
				return nil, err
			}
			d[i] = v
		}
		return d, nil
	case map[string]any:
		if len(path) == 0 {
			return d, nil
		}
		if child, ok := d[path[0]]; ok {
			v, err := k.atPath(child, path[1:], r)
			if err != nil {
				return nil, err
			}
			d[path[0]] = v
		}
		return d, nil
	}
	if len(path) > 0 || doc == nil {
		return doc, nil
	}
	var text []byte
	switch d := doc.(type) {
	case string:
		text = []byte(d)
	case json.Number:
		text = []byte(d.String())
	default:
		return doc, nil
	}
	out, null, err := k.apply(r, text, 0)
	if err != nil || null {
		return nil, err
	}
	if _, ok := doc.(json.Number); ok && json.Valid(out) {
		return json.Number(out), nil // a number whose digits were replaced
	}
	return string(out), nil
}
