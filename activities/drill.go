package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/envsync/envsync/buildinfo"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
)

// ChecksInput asks to run a drill task's checks in its restored copy.
type ChecksInput struct {
	Task    config.Task
	Staging string
}

// ChecksResult counts the checks that passed (all of them, or the step
// fails naming the first that did not).
type ChecksResult struct {
	Passed int `json:"passed"`
}

// RunChecks runs each of the drill task's checks (SELECTs) in the restored
// copy, read-only; each must return at least one row. Only whether it did
// is kept, never a value.
func (a *Activities) RunChecks(ctx context.Context, in ChecksInput) (ChecksResult, error) {
	var res ChecksResult
	if len(in.Task.Checks) == 0 {
		return res, nil
	}
	eng, err := a.engine(in.Task)
	if err != nil {
		return res, err
	}
	p, ok := eng.(engine.Prober)
	if !ok {
		return res, permanent(ErrInvalidTask, fmt.Errorf("dbms %s cannot run a drill's checks", in.Task.DBMS))
	}
	for i, q := range in.Task.Checks {
		found, err := p.Probe(ctx, in.Staging, q)
		var perm *engine.PermanentError
		switch {
		case errors.As(err, &perm):
			return res, permanent(ErrCheckFailed, fmt.Errorf("check %d (%s) failed in %s: %w", i+1, q, in.Staging, err))
		case err != nil:
			return res, classify(fmt.Errorf("check %d (%s) in %s: %w", i+1, q, in.Staging, err))
		case !found:
			return res, permanent(ErrCheckFailed, fmt.Errorf("check %d (%s) returned no row in the restored copy of the dump: the dump does not hold what the check expects", i+1, q))
		}
		res.Passed++
	}
	return res, nil
}

// EvidenceInput is what a passed drill proved, to write beside the dump.
type EvidenceInput struct {
	Task config.Task
	// Key is the dump's data key.
	Key     string
	Seconds float64
	Tables  int
	Rows    int64
	Checks  int
}

// WriteEvidence stores the evidence that the dump restored, verified and
// passed its checks (dump.DrillKey), which `envsync dumps`, `envsync
// status` and retention read. Only a drill that passed writes it.
func (a *Activities) WriteEvidence(ctx context.Context, in EvidenceInput) (string, error) {
	if _, _, ok := dump.Parse(in.Task.Path, in.Key); !ok {
		return "", permanent(ErrInvalidInput, fmt.Errorf("%s is not a dump key under %s", in.Key, in.Task.Path))
	}
	st, err := a.store(ctx, in.Task)
	if err != nil {
		return "", err
	}
	host, _ := os.Hostname()
	d := dump.Drill{Format: dump.DrillFormat, Key: in.Key, Task: in.Task.Name, At: time.Now().UTC(), Seconds: in.Seconds,
		Tables: in.Tables, Rows: in.Rows, Checks: in.Checks, EnvsyncVersion: buildinfo.Version,
		WorkerHost: in.Task.WorkerHost + " (" + host + ")", Server: in.Task.DatabaseHostname}
	if d.Server == "" {
		d.Server = "local"
	}
	body, err := d.Marshal()
	if err != nil {
		return "", err
	}
	key := dump.DrillKey(in.Key)
	if err := st.Put(ctx, key, bytesReader(body), int64(len(body))); err != nil {
		return "", fmt.Errorf("write drill evidence %s: %w", key, err)
	}
	return key, nil
}
