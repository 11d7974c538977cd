package workflows

import (
	"fmt"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
)

// Request is one run to start, however it entered: a tasks file, a legacy
// .cfg, flags, a chain or a schedule.
type Request struct {
	Task config.Task
	// Timestamp (pull only): restore the dump of that UTC minute.
	Timestamp string
	// Key (pull only): restore exactly this dump.
	Key string
	// AllowProtected (pull only): the person starting it means to pull
	// into a protected target.
	AllowProtected bool
	// Then (push only): pulls to start with the pushed dump.
	Then []config.Task
	// PullRules (push only): pulls with rule sets whose rules the push
	// checks against its database (see config.File.PullsFedBy).
	PullRules []config.Task
	Timeouts  Timeouts
}

// Validate normalises the task and checks the request: where input
// enters envsync (file, flags, a chain), and once more in the workflow, for
// input started by other means (the temporal CLI) that did not come
// through envsync. source names where it came from, for the messages.
func (r *Request) Validate(source string) error {
	r.Task.Normalise()
	if err := r.Task.Validate(source); err != nil {
		return err
	}
	if err := r.Task.RulesLoaded(); err != nil {
		return err
	}
	if r.Task.Protected && r.Task.Action == config.ActionPull && !r.AllowProtected {
		return &config.FieldError{Source: source, Task: r.Task.Name, Field: "protected", Value: "true",
			Reason: "this pull would replace a protected database; pull into it only by hand: add --allow-protected if you mean it"}
	}
	if r.Timestamp != "" && r.Key == "" {
		if r.Task.Action != config.ActionPull {
			return &config.FieldError{Source: source, Task: r.Task.Name, Field: "timestamp", Value: r.Timestamp, Reason: "only a pull restores a chosen dump"}
		}
		if _, err := config.ParseTimestamp(source, r.Timestamp); err != nil {
			return err
		}
	}
	return nil
}

// Results holds a finished run's result: the field of its action is set.
type Results struct {
	Push  *PushResult            `json:"push,omitempty"`
	Pull  *PullResult            `json:"pull,omitempty"`
	Sync  *activities.SyncResult `json:"sync,omitempty"`
	Drill *DrillResult           `json:"drill,omitempty"`
}

// Action is what envsync knows about one kind of run. The starter and
// Scheduled both start runs through it, so adding an action is one entry.
type Action struct {
	// Workflow is the workflow function that runs it.
	Workflow any
	// Input is the workflow's input for a request.
	Input func(Request) any
	// Result sets the action's field of res to a new, empty result and
	// returns it, to decode the run's result into.
	Result func(res *Results) any
	// Summary is a one-line description for the Temporal UI.
	Summary func(config.Task) string
}

// actions maps each config.Action* to its run.
var actions = map[string]Action{
	config.ActionPush: {
		Workflow: Push,
		Input: func(r Request) any {
			return PushInput{Task: r.Task, Then: r.Then, PullRules: r.PullRules, Timeouts: r.Timeouts}
		},
		Result:  func(res *Results) any { res.Push = &PushResult{}; return res.Push },
		Summary: dbSummary,
	},
	config.ActionPull: {
		Workflow: Pull,
		Input: func(r Request) any {
			return PullInput{Task: r.Task, Timestamp: r.Timestamp, Key: r.Key, AllowProtected: r.AllowProtected, Timeouts: r.Timeouts}
		},
		Result:  func(res *Results) any { res.Pull = &PullResult{}; return res.Pull },
		Summary: dbSummary,
	},
	config.ActionS3Sync: {
		Workflow: Sync,
		Input:    func(r Request) any { return SyncInput{Task: r.Task, Timeouts: r.Timeouts} },
		Result:   func(res *Results) any { res.Sync = &activities.SyncResult{}; return res.Sync },
		Summary: func(t config.Task) string {
			return fmt.Sprintf("s3_sync s3://%s/%s -> s3://%s/%s", t.URL, t.Path, t.TargetURL, t.TargetPath)
		},
	},
	config.ActionDrill: {
		Workflow: Drill,
		Input:    func(r Request) any { return DrillInput{Task: r.Task, Timeouts: r.Timeouts} },
		Result:   func(res *Results) any { res.Drill = &DrillResult{}; return res.Drill },
		Summary: func(t config.Task) string {
			return fmt.Sprintf("drill %s %s from %s://%s/%s", t.DBMS, t.Database, t.StorageBackend, t.URL, t.Path)
		},
	},
}

func dbSummary(t config.Task) string {
	return fmt.Sprintf("%s %s %s via %s", t.Action, t.DBMS, t.Database, t.StorageBackend)
}

// ActionOf returns the run of a task's action.
func ActionOf(action string) (Action, error) {
	a, ok := actions[action]
	if !ok {
		return Action{}, fmt.Errorf("action %q has no workflow; it must be push, pull, s3_sync or drill", action)
	}
	return a, nil
}
