package failure_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/envsync/envsync/failure"
)

// cross sends err through Temporal's failure encoding, as an activity's or
// workflow's error travels through history.
func cross(err error) error {
	fc := temporal.GetDefaultFailureConverter()
	return fc.FailureToError(fc.ErrorToFailure(err))
}

func TestTextSaysEachCauseOnce(t *testing.T) {
	tool := errors.New("pg_restore: error: could not read from input file: end of file")
	engineErr := fmt.Errorf("postgresql: pg_restore into shop_envsync_1 failed: exit status 1: %w", tool)
	activityErr := cross(temporal.NewNonRetryableApplicationError(engineErr.Error(), "EngineFailed", engineErr))
	workflowErr := cross(fmt.Errorf("restore k.gz into staging database shop_envsync_1 (the live database is untouched): %w", activityErr))

	plain := workflowErr.Error()
	got := failure.Text(workflowErr)
	if n := strings.Count(plain, "could not read from input file"); n < 2 {
		t.Fatalf("the SDK's own text says the cause %d times; this test needs the repeating chain it was written for:\n%s", n, plain)
	}
	want := "restore k.gz into staging database shop_envsync_1 (the live database is untouched): postgresql: pg_restore into shop_envsync_1 failed: exit status 1: pg_restore: error: could not read from input file: end of file"
	if got != want {
		t.Errorf("Text =\n%s\nwant\n%s", got, want)
	}
}

func TestTextNamesTimeoutsAndCancels(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("upload dump of shop: %w", temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil)): "upload dump of shop: the step stopped reporting progress",
		temporal.NewCanceledError():           "canceled",
		errors.New("a plain error, as it is"): "a plain error, as it is",
	} {
		if got := failure.Text(err); !strings.HasPrefix(got, want) {
			t.Errorf("Text(%v) = %q, want it to start with %q", err, got, want)
		}
	}
}
