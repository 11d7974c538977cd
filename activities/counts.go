package activities

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"

	"go.temporal.io/sdk/activity"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
)

// countsFile holds the counts of a spooled dump until Upload writes its
// manifest. They stay on the host, beside the dump, rather than travel in
// the step's result: a schema of ten thousand tables would swell the
// workflow's history.
func countsFile(spool string) string { return spool + ".counts" }

// loadedKind names the temp file (only its counts file is written) where
// Restore keeps the rows per table the server took, for Verify on the
// same host: RemoveTemp removes it with the run's other files.
const loadedKind = "pull-loaded"

func writeCounts(spool string, c *dump.Counts) error {
	if c == nil {
		return nil
	}
	b, err := json.Marshal(c)
	if err == nil {
		err = os.WriteFile(countsFile(spool), b, 0o600)
	}
	if err != nil {
		return fmt.Errorf("keep the dump's row counts beside it: %w", err)
	}
	return nil
}

// readCounts reads what writeCounts kept; none when the dump was not
// counted.
func readCounts(spool string) (*dump.Counts, error) {
	b, err := os.ReadFile(countsFile(spool))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var c dump.Counts
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return nil, fmt.Errorf("read the dump's row counts: %w", err)
	}
	return &c, nil
}

// VerifyInput names a staging copy to compare with its dump's counts.
type VerifyInput struct {
	Task    config.Task
	Key     string
	Staging string
	// Filtered is the rows per table the rule set's filters kept out of
	// the copy in the stream (RestoreResult.Filtered): the copy must hold
	// the dump's count less these.
	Filtered map[string]int64 `json:",omitempty"`
}

// Tally is how many tables (collections, indices) and rows were counted.
type Tally struct {
	Tables int
	Rows   int64
	// Of is what a table is called in this engine ("collection").
	Of string `json:",omitempty"`
}

func tally(c *dump.Counts) *Tally {
	if c == nil {
		return nil
	}
	return &Tally{Tables: len(c.Tables), Rows: c.Total(), Of: c.Of}
}

// VerifyResult says what was compared. Names and numbers only.
type VerifyResult struct {
	// Tally is what was compared: every table matched, or (for counts
	// taken beside the dump) differed only as Notes say.
	Tally
	// Exact says the dump counted within its own snapshot.
	Exact bool
	// Skipped says why nothing was compared.
	Skipped string `json:",omitempty"`
	// Notes are differences accepted because the counts were taken beside
	// the dump, not within its snapshot.
	Notes []string `json:",omitempty"`
	// Filtered is how many of the dump's rows the rule set's filters kept
	// out of the copy, which was checked to hold the rest.
	Filtered int64 `json:",omitempty"`
	// AsLoaded says the copy's rows were the server's own count as it
	// loaded them (its replies to COPY), not a second read of the copy.
	AsLoaded bool `json:",omitempty"`
}

// Summary is the result's line for people: "verified 12 tables, 3400
// rows" or why not.
func (v VerifyResult) Summary() string {
	if v.Skipped != "" {
		return "not verified: " + v.Skipped
	}
	s := "verified " + v.Counts()
	if v.Filtered > 0 {
		s += fmt.Sprintf(" of the dump, %d of them filtered out by the rule set", v.Filtered)
	}
	if !v.Exact {
		s += " (counted beside the dump, not within its snapshot)"
	}
	if v.AsLoaded {
		s += ", the copy's as the server loaded them"
	}
	return s
}

// Counts says "12 tables, 3400 rows" (collections and indices hold
// documents).
func (v Tally) Counts() string {
	of, rows := cmp.Or(v.Of, "table"), "rows"
	if of != "table" {
		rows = "documents"
	}
	return fmt.Sprintf("%d %s, %d %s", v.Tables, plural(of, v.Tables), v.Rows, rows)
}

func plural(of string, n int) string {
	switch {
	case n == 1:
		return of
	case of == "index":
		return "indices"
	}
	return of + "s"
}

// covers says loaded names every table c counts: only then can it stand
// for a count of the copy (a table the loader never saw must be counted).
func covers(loaded map[string]int64, c *dump.Counts) bool {
	if loaded == nil {
		return false
	}
	for t := range c.Tables {
		if _, ok := loaded[t]; !ok {
			return false
		}
	}
	return true
}

// Verify compares the rows of each table of the staging copy with the
// counts its dump recorded, before the copy is swapped in: the rows the
// server took as Restore loaded them, when Restore kept those on this host
// and they cover every table, else a count of the copy. It runs before
// any sanitising after the restore: the comparison is with the dump (less
// what the rule set filtered in the stream), not with the rules. A copy
// that lost or gained rows fails the pull; the live database is untouched.
func (a *Activities) Verify(ctx context.Context, in VerifyInput) (VerifyResult, error) {
	defer startPhase(ctx, "verify", 0).Stop()
	eng, err := a.engine(in.Task)
	if err != nil {
		return VerifyResult{}, err
	}
	counter, ok := eng.(engine.Counter)
	if !ok {
		return VerifyResult{Skipped: "dbms " + in.Task.DBMS + " does not count rows"}, nil
	}
	st, err := a.store(ctx, in.Task)
	if err != nil {
		return VerifyResult{}, err
	}
	man, err := a.readManifest(ctx, st, in.Key)
	if err != nil {
		return VerifyResult{}, err
	}
	if man.Counts == nil {
		return VerifyResult{Skipped: "dump " + in.Key + " records no counts (pushed with verify: none, or by an older envsync)"}, nil
	}
	if err := engine.CheckStaging(in.Task.DBMS, in.Staging); err != nil {
		return VerifyResult{}, err
	}
	c := man.Counts
	res := VerifyResult{Tally: *tally(c), Exact: c.Exact}
	var got map[string]int64
	if loaded, err := readCounts(a.tempName(ctx, in.Task, loadedKind)); err != nil {
		activity.GetLogger(ctx).Warn("the rows the server loaded cannot be read; counting the copy instead", "error", err)
	} else if loaded != nil {
		got = loaded.Tables
	}
	if res.AsLoaded = covers(got, c); !res.AsLoaded {
		if got, err = counter.Count(ctx, in.Staging); err != nil {
			return VerifyResult{}, classify(fmt.Errorf("count the rows of staging copy %s: %w", in.Staging, err))
		}
	}
	if len(in.Filtered) > 0 {
		// What the filters removed is not expected in the copy.
		less := *c
		less.Tables = maps.Clone(c.Tables)
		for t, n := range in.Filtered {
			if _, ok := less.Tables[t]; ok {
				less.Tables[t] -= n
				res.Filtered += n
			}
		}
		c = &less
	}
	var fatal []dump.Difference
	for _, d := range c.Compare(got) {
		if c.Exact || d.Missing {
			fatal = append(fatal, d)
			continue
		}
		res.Notes = append(res.Notes, d.String()+" (counted beside the dump)")
	}
	if len(fatal) > 0 {
		return VerifyResult{}, permanent(ErrCountMismatch, fmt.Errorf("staging copy %s does not hold what dump %s held: %s; the live database is untouched (verify: none skips this check)",
			in.Staging, in.Key, dump.Describe(fatal, 5)))
	}
	return res, nil
}
