package dump

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Counts are the rows (documents) per table (collection, index) a dump
// holds, recorded in its manifest so a pull can check that the copy it
// restored holds as many before anyone can reach it.
type Counts struct {
	// Of names what was counted in messages: "table", "collection",
	// "index".
	Of string `json:"of"`
	// Exact says the counts are what the dump holds, counted within its
	// own snapshot (PostgreSQL, MySQL) or as it was written (MongoDB,
	// Elasticsearch), so a restore that differs has lost or gained rows.
	// Counts taken beside the dump (MySQL without its lock) can differ by
	// the writes made meanwhile: only a missing table fails then.
	Exact bool `json:"exact"`
	// Note says how the counts were taken where that is not obvious.
	Note   string           `json:"note,omitempty"`
	Tables map[string]int64 `json:"tables"`
}

// Total is the rows (documents) of every table.
func (c *Counts) Total() int64 {
	var n int64
	for _, v := range c.Tables {
		n += v
	}
	return n
}

// Difference is one table whose restored count is not the dump's.
type Difference struct {
	Table          string
	Source, Copied int64
	// Missing says the table is not in the restored copy at all.
	Missing bool
}

func (d Difference) String() string {
	if d.Missing {
		return fmt.Sprintf("%s is missing (the source had %d)", d.Table, d.Source)
	}
	return fmt.Sprintf("%s has %d, the source had %d", d.Table, d.Copied, d.Source)
}

// Compare lists the tables of c whose count in got (a restored copy's)
// differs, by name. Tables only in got are not compared: a restore may add
// its own (a sanitiser's bookkeeping, say), it must not lose any.
func (c *Counts) Compare(got map[string]int64) []Difference {
	var out []Difference
	for _, name := range slices.Sorted(maps.Keys(c.Tables)) {
		want := c.Tables[name]
		n, ok := got[name]
		switch {
		case !ok:
			out = append(out, Difference{Table: name, Source: want, Missing: true})
		case n != want:
			out = append(out, Difference{Table: name, Source: want, Copied: n})
		}
	}
	return out
}

// Describe says the first few differences in one line.
func Describe(diffs []Difference, n int) string {
	var parts []string
	for i, d := range diffs {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(diffs)-n))
			break
		}
		parts = append(parts, d.String())
	}
	return strings.Join(parts, "; ")
}
