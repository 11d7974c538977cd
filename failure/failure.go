// Package failure turns the error of a failed run into text for a person:
// one clause per layer (the run's step, the activity's reason, the tool's
// message), each cause said once.
//
// Temporal keeps a failure's causes as a chain, and each layer's message
// already holds the text of the layers below it (fmt.Errorf with %w), while
// the SDK's Error() appends every cause again. A corrupted dump came out as
// about 1.7 KB with the same pg_restore complaint four times; Text keeps
// each layer's own words and drops the repeats.
package failure

import (
	"errors"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Text renders err as one line of clauses joined by ": ". It is a pure
// function of the error, so workflows may call it.
func Text(err error) string {
	var parts []string
	for err != nil {
		own, next := layer(err)
		if own = strings.TrimSpace(own); own != "" && !repeats(parts, own) {
			parts = append(parts, own)
		}
		err = next
	}
	return strings.Join(parts, ": ")
}

// layer splits err into the words it adds and the error it wraps.
func layer(err error) (string, error) {
	next := errors.Unwrap(err)
	switch e := err.(type) {
	case *temporal.WorkflowExecutionError, *temporal.ActivityError, *temporal.ChildWorkflowExecutionError:
		// "workflow execution error (type: Push, workflowID: ...)" and
		// "activity error (type: Upload, scheduledEventID: ...)" are
		// bookkeeping: the run's own message names the step.
		return "", next
	case *temporal.TimeoutError:
		return timeout(e.TimeoutType()), next
	case *temporal.CanceledError:
		return "canceled", nil
	case *temporal.TerminatedError:
		return "terminated", nil
	case *temporal.ApplicationError:
		return strip(e.Message(), next), next
	case *temporal.PanicError:
		return "panic: " + e.Error(), nil
	}
	return strip(err.Error(), next), next
}

// strip removes the text of the wrapped error from the end of msg, where
// fmt.Errorf("...: %w") put it.
func strip(msg string, next error) string {
	if next == nil {
		return msg
	}
	for _, tail := range tails(next) {
		if tail != "" && strings.HasSuffix(msg, tail) {
			return strings.TrimRight(strings.TrimSuffix(msg, tail), ": ")
		}
	}
	return msg
}

// tails are the ways the wrapped error's text may appear in its wrapper:
// its full Error(), or, for a failure that crossed Temporal, its message.
func tails(next error) []string {
	out := []string{next.Error()}
	var app *temporal.ApplicationError
	if errors.As(next, &app) && app == next {
		out = append(out, app.Message())
	}
	if inner := errors.Unwrap(next); inner != nil && isBookkeeping(next) {
		out = append(out, tails(inner)...)
	}
	return out
}

func isBookkeeping(err error) bool {
	switch err.(type) {
	case *temporal.WorkflowExecutionError, *temporal.ActivityError, *temporal.ChildWorkflowExecutionError:
		return true
	}
	return false
}

// repeats reports whether own was already said, as a whole clause.
func repeats(parts []string, own string) bool {
	for _, p := range parts {
		if p == own {
			return true
		}
	}
	return false
}

func timeout(t enumspb.TimeoutType) string {
	switch t {
	case enumspb.TIMEOUT_TYPE_HEARTBEAT:
		return "the step stopped reporting progress (heartbeat timeout): its worker died or the transfer stalled"
	case enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START:
		return "no worker picked the step up in time"
	case enumspb.TIMEOUT_TYPE_START_TO_CLOSE:
		return "the step ran past its time limit"
	}
	return "timed out"
}
