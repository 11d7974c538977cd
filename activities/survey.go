package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

// SurveyRows is how many values of each column `envsync sanitise init`
// samples.
const SurveyRows = 200

// SurveyInput asks for a database's verdicts.
type SurveyInput struct {
	// Task names the live database to read: a push task's.
	Task config.Task `json:"task"`
	// Rows is the most values read per column.
	Rows int `json:"rows"`
}

// Survey reads the task's live database and returns what `envsync sanitise
// init` prints: every table and column with a suggested transformer and
// why. Sampled values are judged here and dropped; only names, transformer
// names and reasons reach the workflow's history.
func (a *Activities) Survey(ctx context.Context, in SurveyInput) (sanitise.Survey, error) {
	samples, err := a.survey(ctx, in.Task, max(in.Rows, 1))
	if err != nil {
		return sanitise.Survey{}, err
	}
	info, _ := engine.Lookup(in.Task.DBMS)
	return sanitise.Suggest(samples, info.Rules == sanitise.KindDocuments, time.Now()), nil
}

func (a *Activities) survey(ctx context.Context, t config.Task, rows int) ([]sanitise.Sample, error) {
	eng, err := a.engine(t)
	if err != nil {
		return nil, err
	}
	s, ok := eng.(engine.Surveyor)
	if !ok {
		return nil, permanent(ErrInvalidTask, fmt.Errorf("dbms %s cannot list its tables and columns for a rule set", t.DBMS))
	}
	samples, err := s.Survey(ctx, rows)
	if err != nil {
		return nil, classify(err)
	}
	return samples, nil
}

// TableColumns is one table's (collection's) columns (field paths): names
// only.
type TableColumns struct {
	Table   string   `json:"table"`
	Columns []string `json:"columns"`
}

// ColumnsInput asks for the names of what a push task's database holds.
type ColumnsInput struct {
	Task config.Task `json:"task"`
}

// Columns lists the tables and columns (collections and field paths) of a
// push task's live database: names only, for the pulls' hosts to check
// their rule sets against while the push runs.
func (a *Activities) Columns(ctx context.Context, in ColumnsInput) ([]TableColumns, error) {
	samples, err := a.survey(ctx, in.Task, 0)
	if err != nil {
		return nil, err
	}
	out := make([]TableColumns, len(samples))
	for i, s := range samples {
		out[i].Table = s.Table
		for _, c := range s.Columns {
			out[i].Columns = append(out[i].Columns, c.Name)
		}
	}
	return out, nil
}

// UnnamedInput checks a pull task's rule set against a database's names.
type UnnamedInput struct {
	// Task is the pull whose rule set (on this host) is checked.
	Task   config.Task    `json:"task"`
	Tables []TableColumns `json:"tables"`
}

// UnnamedResult is what the rule set does not name, as a pull with it
// would report it.
type UnnamedResult struct {
	RuleSet string   `json:"rule_set"`
	Unnamed []string `json:"unnamed,omitempty"`
}

// Unnamed loads the pull task's rule set on its own host and lists the
// tables and columns of the database it does not name: what would fail
// the task's next pull.
func (a *Activities) Unnamed(_ context.Context, in UnnamedInput) (UnnamedResult, error) {
	rules, err := sanitise.LoadChecked(in.Task.SanitiseRules, in.Task.SanitiseSHA256)
	if err != nil {
		return UnnamedResult{}, permanent(ErrSanitiseFailed, err)
	}
	samples := make([]sanitise.Sample, len(in.Tables))
	for i, t := range in.Tables {
		samples[i].Table = t.Table
		for _, c := range t.Columns {
			samples[i].Columns = append(samples[i].Columns, sanitise.SampleColumn{Name: c})
		}
	}
	return UnnamedResult{RuleSet: rules.Path, Unnamed: rules.Unnamed(samples)}, nil
}
