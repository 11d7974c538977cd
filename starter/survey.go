package starter

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/workflows"
)

// SurveyTask picks the push task whose database `envsync sanitise init
// --task name` reads: the named push, or the push feeding the named pull
// (its rule set will see that database's data, not the staging copy's).
func SurveyTask(f *config.File, name string) (config.Task, error) {
	t, ok := f.Task(name)
	if !ok {
		return config.Task{}, &InputError{Err: fmt.Errorf("%s: no task named %q", f.Path, name)}
	}
	switch t.Action {
	case config.ActionPush:
		return t, nil
	case config.ActionPull:
		push, ok := f.PushFeeding(t)
		if !ok {
			return config.Task{}, &InputError{Err: fmt.Errorf("%s: no push task feeds pull %s (none chains into it, none pushes %s %s to %s %s/%s); name the push task of the database whose data the rules will see",
				f.Path, name, t.DBMS, t.DumpName(), t.StorageBackend, t.URL, t.Path)}
		}
		return push, nil
	}
	return config.Task{}, &InputError{Err: fmt.Errorf("%s: task %s is a %s; name a push task, or a pull fed by one", f.Path, name, t.Action)}
}

// Survey runs the SurveyDatabase workflow for task (a push) and waits for
// its verdicts.
func Survey(ctx context.Context, c client.Client, task config.Task, t workflows.Timeouts) (sanitise.Survey, error) {
	var res sanitise.Survey
	err := execute(ctx, c, task, workflows.SurveyWorkflowID(task), "survey", workflows.SurveyDatabase,
		workflows.SurveyInput{Task: task, Timeouts: t}, &res)
	return res, err
}
