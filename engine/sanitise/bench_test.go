package sanitise

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkTransformers measures each transformer, and the scan of a kept
// value, alone on one core: MB/s of column values in. The README's table
// quotes these.
//
//	go test -run - -bench Transformers -cpu 1 ./engine/sanitise
func BenchmarkTransformers(b *testing.B) {
	values := map[string]func(i int) string{
		"email":      func(i int) string { return fmt.Sprintf("person.%d@example.org", i) },
		"name":       func(i int) string { return fmt.Sprintf("Mary Ann Smith%d", i) },
		"phone":      func(i int) string { return fmt.Sprintf("07700 9%05d", i%100000) },
		"postcode":   func(int) string { return "SW1A 2AA" },
		"digits":     func(i int) string { return fmt.Sprintf("AB %06d C", i%1000000) },
		"date_shift": func(i int) string { return fmt.Sprintf("19%02d-03-04", i%100) },
		"hash":       func(i int) string { return fmt.Sprint("token-", i) },
		"lorem":      func(int) string { return "42 Acacia Avenue, Little Whinging" },
		"{redact: pseudonyms}": func(i int) string {
			return fmt.Sprintf("Update for person.%d@example.org: call 07700 9%05d about your subscription", i, i%100000)
		},
		"{json: {contact.email: email}}": func(i int) string {
			return fmt.Sprintf(`{"contact":{"email":"person.%d@example.org"},"n":%d}`, i, i)
		},
		"keep (scanned)": func(i int) string { return fmt.Sprintf("order %d: 3 items, dispatched 2026-11-30", i) },
	}
	for rule, gen := range values {
		b.Run(rule, func(b *testing.B) {
			spec := rule
			if spec == "keep (scanned)" {
				spec = "keep"
			}
			r, err := Parse("bench.yaml", []byte("tables:\n  t:\n    c: "+spec+"\n"))
			if err != nil {
				b.Fatal(err)
			}
			p, err := NewPlan(r, "a-key-of-sixteen-or-more", time.Now())
			if err != nil {
				b.Fatal(err)
			}
			tr := p.Table("t", []Column{{Name: "c"}})
			in := make([][]byte, 1<<16) // distinct enough that the memo turns itself off: the transformer alone
			size := 0
			for i := range in {
				in[i] = []byte(gen(i))
				size += len(in[i])
			}
			b.SetBytes(int64(size / len(in)))
			row := make([]Value, 1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				row[0] = Value{B: in[i%len(in)]}
				if !tr.Row(row) {
					b.Fatal(p.Err())
				}
			}
		})
	}
}
