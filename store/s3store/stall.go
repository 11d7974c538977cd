package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// errStalled is the cause of a request cancelled because its bytes stopped
// moving. The SDK does not retry it: the step fails, and Temporal retries
// the step, which is what an operator sees and can act on.
var errStalled = errors.New("stalled")

// stallClient fails a request whose bytes stop moving for longer than
// after: while the request is sent and its answer awaited, and while the
// caller waits inside a read of the answer's body. Time the caller spends
// elsewhere (a restore busy with what it read) does not count. Without it,
// a server that accepts a connection and never answers keeps an upload
// "alive" for as long as the step's time limit, hours.
type stallClient struct {
	base interface {
		Do(*http.Request) (*http.Response, error)
	}
	after time.Duration
}

// watch is one request's liveness: when bytes last moved, and whether
// anyone is waiting for them now.
type watch struct {
	mu      sync.Mutex
	last    time.Time
	waiting bool
}

func (w *watch) moved() { w.mu.Lock(); w.last = time.Now(); w.mu.Unlock() }

func (w *watch) wait(on bool) {
	w.mu.Lock()
	w.waiting, w.last = on, time.Now()
	w.mu.Unlock()
}

func (w *watch) stalledFor() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.waiting {
		return 0
	}
	return time.Since(w.last)
}

func (t *stallClient) Do(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watch{}
	w.wait(true)
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &watchedBody{ReadCloser: req.Body, w: w, sending: true}
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(max(t.after/8, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				if w.stalledFor() > t.after {
					cancel(errStalled)
					return
				}
			}
		}
	}()
	stop := func() { close(done); cancel(nil) }
	resp, err := t.base.Do(out)
	if err != nil {
		stop()
		if errors.Is(context.Cause(ctx), errStalled) {
			return nil, fmt.Errorf("%s %s: %w: no bytes moved for %s (is the server answering?)", req.Method, req.URL.Host, errStalled, t.after)
		}
		return nil, err
	}
	w.wait(false)
	resp.Body = &watchedBody{ReadCloser: resp.Body, w: w, ctx: ctx, after: t.after, stop: stop}
	return resp, nil
}

// watchedBody marks bytes moving through a request's or answer's body.
type watchedBody struct {
	io.ReadCloser
	w       *watch
	sending bool // a request body: the transport reads it as it sends
	ctx     context.Context
	after   time.Duration
	stop    func()
	once    sync.Once
}

func (b *watchedBody) Read(p []byte) (int, error) {
	if !b.sending {
		b.w.wait(true)
		defer b.w.wait(false)
	}
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.moved()
	}
	if err != nil && b.ctx != nil && errors.Is(context.Cause(b.ctx), errStalled) {
		return n, fmt.Errorf("%w: no bytes moved for %s while reading the answer", errStalled, b.after)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.ReadCloser.Close()
	if b.stop != nil {
		b.once.Do(b.stop)
	}
	return err
}
