// Package starter is envsync's client side: it starts runs on Temporal
// (every kind: push, pull and s3_sync, prune and keep, through one set of
// start options, workflows.Start), attaches to an identical run already
// going, watches a run's progress, rides out a Temporal that stops
// answering, and reports the outcome. The command line's flags are
// cmd/envsync's; they arrive here as a Request.
package starter

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/workflows"
)

// Request is one run to start; see workflows.Request.
type Request = workflows.Request

// Outcome is a finished run: which, and its result.
type Outcome struct {
	WorkflowID string
	RunID      string
	workflows.Results
}

// Run starts (or attaches to) the run and waits for it.
func Run(ctx context.Context, c client.Client, r Request) (Outcome, error) {
	return RunWatched(ctx, c, r, nil)
}

// RunWatched is Run, printing progress to w (nil: none) while it waits.
// While Temporal cannot be reached it keeps waiting, for w's Patience; past
// it, the error is an *UnknownOutcome.
func RunWatched(ctx context.Context, c client.Client, r Request, w *Watch) (Outcome, error) {
	run, err := Start(ctx, c, r)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{WorkflowID: run.GetID(), RunID: run.GetRunID()}
	if w == nil {
		w = &Watch{}
	}
	cn := &contact{out: w.Out, tty: w.TTY, address: w.Address}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.watch(wctx, c, run.GetID(), run.GetRunID(), cn); close(done) }()
	defer func() { stop(); <-done }()
	act, err := workflows.ActionOf(r.Task.Action) // Start checked it
	if err != nil {
		return out, err
	}
	patience := w.Patience
	if patience == 0 {
		patience = DefaultPatience
	}
	return out, wait(ctx, run, act.Result(&out.Results), cn, patience,
		UnknownOutcome{WorkflowID: out.WorkflowID, RunID: out.RunID, Address: w.Address, Namespace: w.Namespace})
}

// Report prints a run that succeeded, for a person: what ran, where it
// went, how long it took, and the pulls a push started.
func Report(w io.Writer, o Outcome) {
	fmt.Fprintf(w, "workflow  %s\nrun       %s\n", o.WorkflowID, o.RunID)
	switch {
	case o.Push != nil && o.Push.Skipped != "":
		fmt.Fprintf(w, "skipped   %s\n", o.Push.Skipped)
	case o.Pull != nil && o.Pull.Skipped != "":
		fmt.Fprintf(w, "skipped   %s\n", o.Pull.Skipped)
	case o.Push != nil:
		reportPush(w, o.Push)
	case o.Sync != nil:
		s := o.Sync
		fmt.Fprintf(w, "copied    %d dumps (%s)\nunchanged %d\ndeleted   %d\nskipped   %d\ntook      %.1fs\n",
			len(s.Copied), dump.HumanSize(s.Bytes), len(s.Unchanged), len(s.Deleted), len(s.Skipped), s.Seconds)
		for _, k := range s.Skipped {
			fmt.Fprintf(w, "  skipped %s: %s\n", k.Key, k.Reason)
		}
	case o.Pull != nil:
		reportPull(w, o.Pull)
	case o.Drill != nil:
		d := o.Drill
		fmt.Fprintf(w, "drilled   %s\nrestored  into %s in %.1fs, then dropped\n", d.Key, d.Staging, d.RestoreSeconds)
		if d.Verified != nil {
			fmt.Fprintf(w, "verified  %s\n", d.Verified.Summary())
		}
		fmt.Fprintf(w, "checks    %d passed\nevidence  %s\ntook      %.1fs\n", d.Checks, d.Evidence, d.TotalSeconds)
		for _, n := range d.Notes {
			fmt.Fprintf(w, "note      %s\n", n)
		}
	}
}

// reportPush prints a push that succeeded.
func reportPush(w io.Writer, p *workflows.PushResult) {
	fmt.Fprintf(w, "pushed    %s\n", p.Key)
	if p.ManifestKey != "" { // a snapshot has none
		fmt.Fprintf(w, "manifest  %s\n", p.ManifestKey)
	}
	fmt.Fprintf(w, "location  %s\n", p.Location)
	if p.Size > 0 {
		fmt.Fprintf(w, "size      %s %s  sha256 %s\n", dump.HumanSize(p.Size), p.Compression, p.SHA256)
	}
	if p.Streamed {
		fmt.Fprintf(w, "took      dump and upload %.1fs (streamed), total %.1fs\n", p.DumpSeconds, p.TotalSeconds)
	} else {
		fmt.Fprintf(w, "took      dump %.1fs, upload %.1fs, total %.1fs\n", p.DumpSeconds, p.UploadSeconds, p.TotalSeconds)
	}
	if p.Counted != nil {
		fmt.Fprintf(w, "counted   %s (in the manifest, for pulls to verify)\n", p.Counted.Counts())
	}
	if p.Reused {
		fmt.Fprintf(w, "note      an earlier attempt of this run had stored this dump complete but could not report it; it was kept, not dumped again\n")
	}
	if p.Prune != nil {
		fmt.Fprintf(w, "pruned    %d dumps and %d orphans, %s freed\n", p.Prune.Dumps, p.Prune.Orphans, dump.HumanSize(p.Prune.Bytes))
	}
	if p.PruneError != "" {
		fmt.Fprintf(w, "prune     FAILED: %s\n", p.PruneError)
	}
	if p.Sanitised != nil {
		fmt.Fprintf(w, "sanitised before upload with rules sha256 %s, in the stream\n", p.Sanitised.RulesSHA256)
		reportTables(w, p.Sanitised.Tables)
	}
	for _, c := range p.RulesChecks {
		switch {
		case c.Error != "":
			fmt.Fprintf(w, "WARNING   could not check the rule set of pull %s: %s\n", c.Task, c.Error)
		case len(c.Unnamed) > 0:
			fmt.Fprintf(w, "WARNING   rule set %s of pull %s does not name %s: that pull will fail until they are added (envsync sanitise init --update %s)\n",
				c.RuleSet, c.Task, strings.Join(c.Unnamed, ", "), c.RuleSet)
		default:
			fmt.Fprintf(w, "rules     %s of pull %s names every table and column\n", c.RuleSet, c.Task)
		}
	}
	for _, c := range p.Chained {
		where := c.WorkflowID
		if c.Namespace != "" {
			where += " in namespace " + c.Namespace
		}
		if c.Profile != "" {
			where += " of profile " + c.Profile
		}
		if c.Error != "" {
			fmt.Fprintf(w, "chained   %s (%s) did not start: %s\n", c.Task, where, c.Error)
		} else {
			fmt.Fprintf(w, "chained   %s started as %s, run %s\n", c.Task, where, c.RunID)
		}
	}
}

// reportPull prints a pull that succeeded.
func reportPull(w io.Writer, p *workflows.PullResult) {
	fmt.Fprintf(w, "restored  %s\ninto      %s (via staging %s)\nsize      %s  sha256 %s\ndump of   %s at %s\n",
		p.Key, p.Database, p.Staging, dump.HumanSize(p.Size), p.SHA256, p.SourceHost, p.DumpCreatedAt.Format("2006-01-02 15:04:05Z"))
	if p.DownloadSeconds > 0 {
		fmt.Fprintf(w, "took      download %.1fs, restore %.1fs, total %.1fs\n", p.DownloadSeconds, p.RestoreSeconds, p.TotalSeconds)
	} else {
		fmt.Fprintf(w, "took      download and restore %.1fs (streamed), total %.1fs\n", p.RestoreSeconds, p.TotalSeconds)
	}
	if v := p.Verified; v != nil {
		fmt.Fprintf(w, "verify    %s\n", v.Summary())
		for _, n := range v.Notes {
			fmt.Fprintf(w, "note      %s\n", n)
		}
	}
	if s := p.Sanitised; s != nil {
		if len(s.Rows) == 0 && s.Verified == 0 {
			fmt.Fprintf(w, "sanitised with rules sha256 %s, in the stream:\n", s.RulesSHA256)
		} else {
			fmt.Fprintf(w, "sanitised with rules sha256 %s, in the stream; after the restore %d rules ran and %d verify queries passed:\n", s.RulesSHA256, len(s.Rows), s.Verified)
		}
		reportTables(w, s.Tables)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note      %s\n", n)
	}
}

// reportTables prints what a sanitise plan did to each table as the rows
// passed: counts, never values.
func reportTables(w io.Writer, tables map[string]*sanitise.TableReport) {
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := tables[n]
		fmt.Fprintf(w, "  %-24s %d rows: %d transformed, %d filtered out, %d kept values scanned\n", n, t.Rows, t.Transformed, t.Filtered, t.Scanned)
	}
}

// ChainError is returned for a push that succeeded but could not start one
// of its chained pulls: the dump is complete, the pull still has to run.
type ChainError struct {
	Key string
	// Tasks is the tasks file the pulls are defined in.
	Tasks  string
	Failed []workflows.ChainedRun
}

func (e *ChainError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the push succeeded and %s is complete and restorable, but %d chained pull(s) did not start (their reasons are in the chained lines of the output); start them by hand with:",
		e.Key, len(e.Failed))
	for _, c := range e.Failed {
		fmt.Fprintf(&b, "\n  envsync pull --tasks %s --task %s --key %s", e.Tasks, c.Task, e.Key)
		if c.Namespace != "" {
			fmt.Fprintf(&b, " --namespace %s", c.Namespace)
		}
		if c.Profile != "" {
			fmt.Fprintf(&b, " --profile %s", c.Profile)
		}
	}
	return b.String()
}

// Check turns an outcome that finished but left work undone (a chained
// pull that did not start) into an error, after Report has printed it.
// tasks is the tasks file the run came from.
func Check(o Outcome, tasks string) error {
	if o.Push == nil {
		return nil
	}
	var failed []workflows.ChainedRun
	for _, c := range o.Push.Chained {
		if c.Error != "" {
			failed = append(failed, c)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &ChainError{Key: o.Push.Key, Tasks: tasks, Failed: failed}
}

// Failed prints a run that failed: only where to find it. What failed, why
// and what to do is the error itself, which failure.Text renders once per
// layer; nothing of the success summary, whose fields are empty.
func Failed(w io.Writer, o Outcome) {
	if o.RunID == "" {
		return // it never started
	}
	fmt.Fprintf(w, "workflow  %s\nrun       %s\nfailed    see the run's history with: temporal workflow show --workflow-id %s --run-id %s\n",
		o.WorkflowID, o.RunID, o.WorkflowID, o.RunID)
}
