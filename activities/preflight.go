package activities

import (
	"context"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/engine"
)

// PreflightInput asks whether this server is where the task runs.
type PreflightInput struct {
	Task config.Task
}

// PreflightResult is empty to go ahead; Skip says why the run is skipped
// (a MongoDB secondary, say).
type PreflightResult struct {
	Skip string
}

// Preflight asks the engine, for engines that decide per server.
func (a *Activities) Preflight(ctx context.Context, in PreflightInput) (PreflightResult, error) {
	eng, err := a.engine(in.Task)
	if err != nil {
		return PreflightResult{}, err
	}
	p, ok := eng.(engine.Preflighter)
	if !ok {
		return PreflightResult{}, nil
	}
	skip, err := p.Preflight(ctx, in.Task.Action)
	return PreflightResult{Skip: skip}, classify(err)
}
