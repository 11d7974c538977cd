package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/failure"
)

// SurveyInput asks for a rule set written from a push task's live
// database (`envsync sanitise init`).
type SurveyInput struct {
	// Task is the validated push task whose database the pulls' rules
	// will see. Required.
	Task     config.Task `json:"task"`
	Timeouts Timeouts    `json:"timeouts,omitempty"`
}

// SurveyDatabase runs the Survey step on the task's host: the database is
// read where its credentials are, and only verdicts come back.
func SurveyDatabase(ctx workflow.Context, in SurveyInput) (res sanitise.Survey, err error) {
	req := Request{Task: in.Task}
	if err := req.Validate("workflow input"); err != nil {
		return res, invalid(err)
	}
	if in.Task.Action != config.ActionPush {
		return res, invalid(errorf("task %s is a %s; a rule set is written from the database a push task dumps", in.Task.Name, in.Task.Action))
	}
	t := in.Timeouts.withDefaults()
	err = workflow.ExecuteActivity(on(ctx, in.Task, t, stepSurvey), a.Survey, activities.SurveyInput{Task: in.Task, Rows: activities.SurveyRows}).Get(ctx, &res)
	if err != nil {
		return res, explain(in.Task, t, "survey "+in.Task.Database, err)
	}
	return res, nil
}

// RulesCheck is what a push found of the rule sets of the pulls it feeds.
type RulesCheck struct {
	// Task is the pull; RuleSet its rule set on the pull's host.
	Task    string `json:"task"`
	RuleSet string `json:"rule_set,omitempty"`
	// Unnamed are the tables and columns the push's database holds and
	// the rule set does not name: the pull will fail on them.
	Unnamed []string `json:"unnamed,omitempty"`
	// Error says why the check could not be made.
	Error string `json:"error,omitempty"`
}

// Warning is the line a push reports for its checks: empty when every
// rule set names everything.
func Warning(checks []RulesCheck) string {
	var parts []string
	for _, c := range checks {
		switch {
		case c.Error != "":
			parts = append(parts, fmt.Sprintf("could not check the rule set of pull %s: %s", c.Task, c.Error))
		case len(c.Unnamed) > 0:
			parts = append(parts, fmt.Sprintf("rule set %s of pull %s does not name %s, so that pull will fail: add them (envsync sanitise init --update %s)",
				c.RuleSet, c.Task, strings.Join(c.Unnamed, ", "), c.RuleSet))
		}
	}
	return strings.Join(parts, "; ")
}

// checkPullRules starts checking the rule sets of the pulls a push feeds,
// beside its dump, and returns a future of the checks: the push's
// database is listed (names only) on its host, and each pull's host
// checks its rule set against the list, so a column added in production
// shows during the day, on the push, instead of failing the nightly pull.
// It never fails the push.
func checkPullRules(ctx workflow.Context, push config.Task, t Timeouts, pulls []config.Task) workflow.Future {
	f, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		set.Set(rulesChecks(ctx, push, t, pulls), nil)
	})
	return f
}

func rulesChecks(ctx workflow.Context, push config.Task, t Timeouts, pulls []config.Task) []RulesCheck {
	var cols []activities.TableColumns
	err := workflow.ExecuteActivity(on(ctx, push, t, stepSurvey), a.Columns, activities.ColumnsInput{Task: push}).Get(ctx, &cols)
	out := make([]RulesCheck, len(pulls))
	for i, pull := range pulls {
		out[i].Task = pull.Name
		if err != nil {
			out[i].Error = "list the columns of " + push.Database + ": " + failure.Text(err)
			continue
		}
		var u activities.UnnamedResult
		// A staging worker that is away delays the push's report by a
		// minute, not by the usual wait for a host.
		pctx := workflow.WithScheduleToStartTimeout(on(ctx, pull, t, stepLock), time.Minute)
		if err := workflow.ExecuteActivity(pctx, a.Unnamed, activities.UnnamedInput{Task: pull, Tables: cols}).Get(ctx, &u); err != nil {
			out[i].Error = failure.Text(err)
			continue
		}
		out[i].RuleSet, out[i].Unnamed = u.RuleSet, u.Unnamed
	}
	return out
}
