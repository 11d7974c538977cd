package postgres

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/engine/sanitise"
)

// BenchmarkSanitiseCopyRows is the stream sanitiser alone on COPY rows
// like bench/datapath -sanitise's: four columns transformed, three kept
// and scanned. MB/s of dump text in, on one core.
//
//	go test -run - -bench SanitiseCopyRows -cpu 1 ./engine/postgres
func BenchmarkSanitiseCopyRows(b *testing.B) {
	var in bytes.Buffer
	in.WriteString("CREATE TABLE public.people (\n    id bigint NOT NULL,\n    email text NOT NULL,\n    name text NOT NULL,\n    phone character varying(20),\n    postcode character varying(8),\n    created date,\n    notes text\n);\n")
	in.WriteString("COPY public.people (id, email, name, phone, postcode, created, notes) FROM stdin;\n")
	const rows = 20000
	for i := 1; i <= rows; i++ {
		h := md5.Sum([]byte(strconv.Itoa(i)))
		fmt.Fprintf(&in, "%d\tperson%d@real-person.example\tOlivia Realname%d\t07700 9%05d\tSW1A 2AA\t2021-03-04\taccount %d: %s\n", i, i, i%977, i%100000, i, strings.Repeat(hex.EncodeToString(h[:]), 6))
	}
	in.WriteString("\\.\n")
	r, err := sanitise.Parse("rules.yaml", []byte("tables:\n  people:\n    id: keep\n    email: email\n    name: name\n    phone: phone\n    postcode: postcode\n    created: keep\n    notes: keep\n"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(in.Len()))
	b.ResetTimer()
	for range b.N {
		p, err := sanitise.NewPlan(r, "a-key-of-sixteen-or-more", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := newSanitiser(p, io.Discard).run(bytes.NewReader(in.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
