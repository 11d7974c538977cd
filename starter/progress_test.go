package starter

import (
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/envsync/envsync/activities"
	_ "github.com/envsync/envsync/engine/all" // the engines and stores tasks name
)

func pending(t *testing.T, attempt int32, state enumspb.PendingActivityState, hb *activities.Progress, hbAge time.Duration) *workflow.PendingActivityInfo {
	t.Helper()
	p := &workflow.PendingActivityInfo{
		ActivityType:    &commonpb.ActivityType{Name: "Dump"},
		Attempt:         attempt,
		State:           state,
		LastStartedTime: timestamppb.New(time.Now().Add(-time.Minute)),
	}
	if attempt > 1 {
		p.LastFailure = &failurepb.Failure{Message: "upload failed"}
	}
	if hb != nil {
		d, err := converter.GetDefaultDataConverter().ToPayloads(*hb)
		if err != nil {
			t.Fatal(err)
		}
		p.HeartbeatDetails = d
		p.LastHeartbeatTime = timestamppb.New(time.Now().Add(-hbAge))
	}
	return p
}

func TestProgressLine(t *testing.T) {
	moving := &activities.Progress{Phase: "dump", Bytes: 29 << 20, Total: 87 << 20, Stored: 14 << 20, Rate: 6 << 20, ETA: 10, Attempt: 1}
	started, scheduled := enumspb.PENDING_ACTIVITY_STATE_STARTED, enumspb.PENDING_ACTIVITY_STATE_SCHEDULED
	stalled := *moving
	stalled.Idle = 40
	for name, tc := range map[string]struct {
		p         *workflow.PendingActivityInfo
		want, not []string
	}{
		"moving": {pending(t, 1, started, moving, time.Second),
			[]string{"dump", "29.0 MiB of ~87.0 MiB", "14.0 MiB stored", "6.0 MiB/s", "ETA 10s"}, []string{"no bytes moved"}},
		// The server keeps the failed attempt's last heartbeat until the
		// new attempt sends one: its figures are not the new attempt's.
		"retry before its first heartbeat": {pending(t, 2, started, moving, 30*time.Second),
			[]string{"dump", "starting", "(attempt 2, last error: upload failed)"}, []string{"29.0 MiB", "ETA", "/s"}},
		"waiting to retry": {pending(t, 2, scheduled, moving, 30*time.Second),
			[]string{"(waiting to retry, attempt 2"}, []string{"29.0 MiB", "starting"}},
		"stalled": {pending(t, 1, started, &stalled, 3*time.Second),
			[]string{"29.0 MiB of ~87.0 MiB", "no bytes moved for 43s"}, []string{"ETA", "/s"}},
	} {
		t.Run(name, func(t *testing.T) {
			line, _ := progressLine([]*workflow.PendingActivityInfo{tc.p})
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("line %q lacks %q", line, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(line, n) {
					t.Errorf("line %q has %q", line, n)
				}
			}
		})
	}
}
