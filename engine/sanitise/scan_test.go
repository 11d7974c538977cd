package sanitise

import (
	"slices"
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
