package workflows

import (
	"time"

	"github.com/envsync/envsync/config"
)

// Every task queue and workflow ID envsync uses is named here.

// CentralQueue is where workflows run (and the central worker's own
// activities: monitoring reports, chained starts).
const CentralQueue = "envsync"

// TaskQueue is the task queue of a worker host's activities.
func TaskQueue(workerHost string) string { return "envsync-host-" + workerHost }

// WorkflowID names the target a run reads or writes: the worker host, the
// database server and the database (or the directory, for files). Every
// push and pull of one target shares it, so Temporal refuses a second run
// of that target while one is going; a push from production and a pull into
// staging that one worker reaches through database_hostname differ, so a
// push can chain into that pull.
func WorkflowID(t config.Task) string {
	switch t.Action {
	case config.ActionS3Sync:
		return "envsync-" + t.WorkerHost + "-s3sync-" + t.Name
	case config.ActionDrill:
		// A drill's database is its own throwaway one: it runs beside
		// the pushes and pulls of the database it proves.
		return "envsync-" + t.WorkerHost + "-drill-" + t.Name
	}
	return "envsync-" + t.WorkerHost + "-" + target(t)
}

// target is the database a run reads or writes, as the worker reaches it:
// "<database_hostname>/<database>", "local/<database>" for the engine's
// default server on the worker host, or the directory of a files task.
func target(t config.Task) string {
	if t.Directory != "" {
		return t.Directory // only an engine that archives a directory takes one
	}
	server := t.DatabaseHostname
	if server == "" {
		server = "local"
	}
	return server + "/" + t.Database
}

// PruneWorkflowID and KeepWorkflowID name the retention runs, one at a time
// per task.
func PruneWorkflowID(t config.Task) string { return "envsync-" + t.WorkerHost + "-prune-" + t.Name }
func KeepWorkflowID(t config.Task) string  { return "envsync-" + t.WorkerHost + "-keep-" + t.Name }

// DumpsWorkflowID names one listing of a task's dumps; listings do not
// exclude each other, so each gets its own (at is the caller's clock).
func DumpsWorkflowID(t config.Task, at time.Time) string {
	return "envsync-" + t.WorkerHost + "-dumps-" + t.Name + "-" + at.UTC().Format("20060102T150405.000000000")
}

// SurveyWorkflowID names a task's sanitise init survey.
func SurveyWorkflowID(t config.Task) string { return "envsync-" + t.WorkerHost + "-survey-" + t.Name }

// ScheduledWorkflowID names the runs a task's schedule starts (each runs
// the task under its WorkflowID as a child).
func ScheduledWorkflowID(t config.Task) string { return "envsync-scheduled-" + t.Name }

// SchedulePrefix marks the schedules envsync manages: ScheduleID.
const SchedulePrefix = "envsync-task-"

// ScheduleID names a task's Temporal Schedule.
func ScheduleID(task string) string { return SchedulePrefix + task }
