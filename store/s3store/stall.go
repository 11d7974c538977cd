package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// errStalled is the cause of a request cancelled because its bytes stopped
// moving, or its answer did not come. The SDK does not retry it: the step
// fails, and Temporal retries the step, which is what an operator sees and
// can act on.
var errStalled = errors.New("stalled")

// smallRequest is the largest request body that counts as a metadata call
// (a manifest, a listing, starting or aborting an upload): its answer should
// come within seconds, whatever the dump's size.
const smallRequest = 1 << 20

// stallClient fails a request that gets no answer within answer (a small
// request: a listing, starting an upload, a manifest), or whose bytes stop
// moving for longer than after (a part being sent, an object being read).
// Time the caller spends elsewhere (a restore busy with what it read) does
// not count. Without it, a server that accepts a connection and never
// answers keeps an upload "alive" for as long as the step's time limit,
// hours.
//
// Once a request has stalled, the store is taken to be away: later requests
// through the same client fail at once instead of each waiting out its own
// limit, so a step whose store does not answer fails within one limit, not
// one per call (a listing, a sweep, the upload, ...). Each attempt of a step
// opens its own store, so the retry asks again.
type stallClient struct {
	base interface {
		Do(*http.Request) (*http.Response, error)
	}
	answer, after time.Duration
	// away is the first stall's error, once there was one.
	away atomic.Pointer[error]
}

// watch is one request's liveness: when bytes last moved, whether anyone
// is waiting for them now, and for how long they may stand still.
type watch struct {
	mu      sync.Mutex
	last    time.Time
	waiting bool
	limit   time.Duration
}

func (w *watch) moved() { w.mu.Lock(); w.last = time.Now(); w.mu.Unlock() }

func (w *watch) wait(on bool, limit time.Duration) {
	w.mu.Lock()
	w.waiting, w.last, w.limit = on, time.Now(), limit
	w.mu.Unlock()
}

// stalled reports whether bytes have stood still past the limit, and the
// limit.
func (w *watch) stalled() (bool, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waiting && time.Since(w.last) > w.limit, w.limit
}

// small says whether req is a metadata call, whose answer should come
// within seconds. Completing a multipart upload is not: S3 may take a while
// to assemble a large object.
func small(req *http.Request) bool {
	if req.Method == http.MethodPost && strings.Contains(req.URL.RawQuery, "uploadId=") {
		return false
	}
	noBody := req.Body == nil || req.Body == http.NoBody
	return noBody || (req.ContentLength >= 0 && req.ContentLength < smallRequest)
}

func (t *stallClient) Do(req *http.Request) (*http.Response, error) {
	if e := t.away.Load(); e != nil {
		return nil, fmt.Errorf("%s %s: %w (not asked: the store did not answer earlier in this step: %v)", req.Method, req.URL.Host, errStalled, *e)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	limit := t.after
	if small(req) {
		limit = t.answer
	}
	w := &watch{}
	w.wait(true, limit)
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &watchedBody{ReadCloser: req.Body, w: w, sending: true}
	}
	var stalledAt atomic.Int64 // the limit that was exceeded
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(max(min(t.answer, t.after)/8, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				if stalled, limit := w.stalled(); stalled {
					stalledAt.Store(int64(limit))
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
			what := fmt.Sprintf("no answer within %s", time.Duration(stalledAt.Load()))
			if !small(req) {
				what = fmt.Sprintf("no bytes moved for %s", time.Duration(stalledAt.Load()))
			}
			err = fmt.Errorf("%s %s: %w: %s (is the server answering?)", req.Method, req.URL.Host, errStalled, what)
			t.away.CompareAndSwap(nil, &err)
		}
		return nil, err
	}
	w.wait(false, t.after)
	resp.Body = &watchedBody{ReadCloser: resp.Body, w: w, ctx: ctx, away: &t.away, stop: stop}
	return resp, nil
}

// watchedBody marks bytes moving through a request's or answer's body.
type watchedBody struct {
	io.ReadCloser
	w       *watch
	sending bool // a request body: the transport reads it as it sends
	ctx     context.Context
	away    *atomic.Pointer[error]
	stop    func()
	once    sync.Once
}

func (b *watchedBody) Read(p []byte) (int, error) {
	if !b.sending {
		b.w.wait(true, b.w.limit)
		defer b.w.wait(false, b.w.limit)
	}
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.moved()
	}
	if err != nil && b.ctx != nil && errors.Is(context.Cause(b.ctx), errStalled) {
		_, limit := b.w.stalled()
		err = fmt.Errorf("%w: no bytes moved for %s while reading the answer", errStalled, limit)
		b.away.CompareAndSwap(nil, &err)
		return n, err
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
