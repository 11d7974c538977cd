package sanitise

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// What the scanner finds, alone and inside text, and what it leaves: the
// values a kept column commonly holds.
func TestScanFindsPersonalDataAndOnlyThat(t *testing.T) {
	found := map[string][]string{
		"person@example.org":                             {KindEmail},
		"write to Jo.Bloggs+news@mail.example.co.uk now": {KindEmail},
		"07700 900123":                                   {KindPhone},
		"+44 7700 900123":                                {KindPhone},
		"call 020 7946 0018 after six":                   {KindPhone},
		"SW1A 2AA":                                       {KindPostcode},
		"lives at 10 Downing St, SW1A 2AA":               {KindPostcode},
		"AB 12 34 56 C":                                  {KindNI},
		"NI AB123456C on file":                           {KindNI},
		"4111 1111 1111 1111":                            {KindCard},
		"card 4111-1111-1111-1111 expired":               {KindCard},
		"from 192.168.10.24":                             {KindIP},
		"x@example.org, 07700 900123":                    {KindEmail, KindPhone},
	}
	for v, want := range found {
		if got := kindsOf(Scan([]byte(v))); !slices.Equal(got, want) {
			t.Errorf("%q: found %v, want %v", v, got, want)
		}
	}
	for _, v := range []string{"", "42", "19.99", "2026-11-30", "2026-11-30 12:00:00+00", "2026-11-30T12:00:00.123Z",
		"order 1: 3 items, dispatched 2026-11-30", "550e8400-e29b-41d4-a716-446655440000", "SKU-12345", "v1.2.3",
		"4111 1111 1111 1112", "1234567890123", "Changes to VAT rates", "{\"qty\": 3}", "version 10.4.32"} {
		if got := Scan([]byte(v)); got != 0 {
			t.Errorf("%q: found %v in a value that holds none", v, kindsOf(got))
		}
	}
}

// fullShape is what the scanner's first version learnt in one pass over
// every byte; scanReference is that version of Scan. The faster Scan must
// answer as it did.
type fullShape struct {
	shape
	at, upper    bool
	digits, dots int
}

func scanReference(v []byte) (found uint8) {
	sh := fullShapeOf(v)
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

func fullShapeOf(v []byte) (s fullShape) {
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
				sep = true
				continue
			}
			s.addRun(run, start, end)
			run, sep = 0, false
		}
		switch {
		case b == '@':
			s.at = true
		case b == '.':
			s.dots++
		case b >= 'A' && b <= 'Z':
			s.upper = true
		}
	}
	if run > 0 {
		s.addRun(run, start, end)
	}
	return s
}

// Scan, which reads one byte in ten where it can, finds exactly what a
// pass over every byte finds: on random values dense in digits,
// separators, dots, @ and capitals, and on realistic ones, phone and
// card numbers at every offset included.
func TestScanMatchesAPassOverEveryByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabets := []string{"0123456789 -", "0123456789 -.@aAZz+", "07 7009001234-+44", "abcdef0123456789", "QWERTY0123 .@-\t\nx\xc3\xa9"}
	n := 300_000
	if testing.Short() {
		n = 30_000
	}
	for i := range n {
		a := alphabets[i%len(alphabets)]
		b := make([]byte, rng.IntN(90))
		for j := range b {
			b[j] = a[rng.IntN(len(a))]
		}
		if got, want := Scan(b), scanReference(b); got != want {
			t.Fatalf("Scan(%q) = %06b, a full pass says %06b", b, got, want)
		}
	}
	for pad := range 25 {
		for _, s := range []string{"call 07700 900123 now", "card 4111 1111 1111 1111.", "ip 192.168.10.1!", "NI QQ 12 34 56 C", "SW1A 2AA", "x@example.org", "07700900123"} {
			v := []byte(strings.Repeat("ab1 ", pad/4) + strings.Repeat("z", pad%4) + s + strings.Repeat("9", pad%3))
			if got, want := Scan(v), scanReference(v); got != want {
				t.Fatalf("Scan(%q) = %06b, a full pass says %06b", v, got, want)
			}
		}
	}
}

// With pseudonyms, a phone number after an e-mail address is replaced
// however much longer or shorter the address's pseudonym is than the
// address (the numbers move with it).
func TestRedactFindsNumbersAfterAnAddress(t *testing.T) {
	k := newKeyed("a-key-of-sixteen-or-more")
	for _, text := range []string{
		"mail averyveryveryveryverylongname.with.many.parts@some.long.example.org then call 07700 900123 today",
		"mail a@b.co or call 07700 900123",
		"a@b.co 07700900123 c@d.co 07700 900124",
	} {
		out := string(k.redact(&Rule{Kind: "redact", Pseudonyms: true}, []byte(text)))
		if strings.Contains(out, "90012") || strings.Contains(out, "@b.co") {
			t.Errorf("redact kept personal data: %q", out)
		}
	}
}
