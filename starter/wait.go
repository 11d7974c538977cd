package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultPatience is how long a command waits for Temporal to answer again
// once it has lost contact, before it gives up on learning the outcome.
// Long enough for a server restart or an upgrade; the run itself goes on
// on the workers whatever the command does.
const DefaultPatience = 15 * time.Minute

// UnknownOutcome is returned when Temporal stopped answering for longer
// than the command's patience: the run may have finished either way, or be
// running still. The command exits 3.
type UnknownOutcome struct {
	WorkflowID, RunID  string
	Address, Namespace string
	For                time.Duration
}

func (e *UnknownOutcome) Error() string {
	show := fmt.Sprintf("temporal workflow show --workflow-id %s --run-id %s", e.WorkflowID, e.RunID)
	if e.Address != "" {
		show += " --address " + e.Address
	}
	if e.Namespace != "" {
		show += " --namespace " + e.Namespace
	}
	return fmt.Sprintf("the run's outcome is unknown: Temporal%s has not answered for %s; the run goes on without us (it may have finished either way); see how it ends with: %s",
		at(e.Address), e.For.Round(time.Second), show)
}

func at(addr string) string {
	if addr == "" {
		return ""
	}
	return " at " + addr
}

// unreachable says whether err means Temporal could not be reached (or did
// not answer in time), rather than an answer about the run.
func unreachable(err error) bool {
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	if errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// contact is what a command knows of its connection to Temporal: whether,
// and since when, it has lost it. Both the wait for the result and the
// progress watch report to it; it says so on out once per loss.
type contact struct {
	out     io.Writer // nil: silent
	tty     bool      // out is a terminal with a progress line to clear
	address string
	mu      sync.Mutex
	since   time.Time // zero: in contact
}

func (c *contact) lost() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.since.IsZero() {
		return
	}
	c.since = time.Now()
	if c.out != nil {
		fmt.Fprintf(c.out, "%slost contact with Temporal%s; the run goes on without us; retrying\n", c.clear(), at(c.address))
	}
}

func (c *contact) back() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.since.IsZero() {
		return
	}
	if c.out != nil {
		fmt.Fprintf(c.out, "%scontact with Temporal%s is back after %s\n", c.clear(), at(c.address), time.Since(c.since).Round(time.Second))
	}
	c.since = time.Time{}
}

// clear is what clears the progress line before a message.
func (c *contact) clear() string {
	if c.tty {
		return "\r\033[K"
	}
	return ""
}

// lostFor is how long contact has been lost (0: it has not).
func (c *contact) lostFor() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.since.IsZero() {
		return 0
	}
	return time.Since(c.since)
}

// wait gets the run's result into valuePtr, riding out a Temporal that
// cannot be reached for up to patience: the SDK gives up on a call after
// about a minute, and that says nothing of the run.
func wait(ctx context.Context, run client.WorkflowRun, valuePtr any, cn *contact, patience time.Duration, unknown UnknownOutcome) error {
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	get := func() { done <- run.Get(gctx, valuePtr) }
	go get()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err == nil || ctx.Err() != nil || !unreachable(err) {
				cn.back()
				return err
			}
			cn.lost()
			go func() {
				select { // a moment between tries: the server is away
				case <-time.After(2 * time.Second):
				case <-gctx.Done():
				}
				get()
			}()
		case <-tick.C:
			if d := cn.lostFor(); d > patience {
				cancel()
				<-done
				unknown.For = d
				return &unknown
			}
		}
	}
}
