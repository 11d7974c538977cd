package datapath

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ParseRate reads an upload limit: a number of bytes with an optional unit
// (B, KB, MB, GB: powers of 1000; KiB, MiB, GiB: of 1024) and an optional
// "/s"; 0 or "none" is no limit.
func ParseRate(v string) (int64, error) {
	s := strings.TrimSuffix(strings.TrimSpace(v), "/s")
	if s == "none" || s == "0" {
		return 0, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || n < 0 {
		return 0, fmt.Errorf("upload limit %q: want a rate such as 50MiB/s, 10MB/s or none", v)
	}
	return int64(n * mult), nil
}

// limiter paces a stream to rate bytes a second, measured from its start,
// so a burst never exceeds what the rate allows since then plus one read.
type limiter struct {
	ctx   context.Context
	rate  int64
	start time.Time
	done  int64
}

func newLimiter(ctx context.Context, rate int64) *limiter {
	return &limiter{ctx: ctx, rate: rate, start: time.Now()}
}

// wait sleeps until n more bytes are within the rate.
func (l *limiter) wait(n int) error {
	l.done += int64(n)
	due := l.start.Add(time.Duration(float64(l.done) / float64(l.rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-l.ctx.Done():
			return l.ctx.Err()
		}
	}
	return nil
}

// limitReader paces reads from r.
type limitReader struct {
	r io.Reader
	l *limiter
}

func (lr limitReader) Read(p []byte) (int, error) {
	n, err := lr.r.Read(p)
	if werr := lr.l.wait(n); err == nil {
		err = werr
	}
	return n, err
}

// LimitReads paces reads from r to rate bytes a second; r itself when
// rate is 0 (no cap).
func LimitReads(ctx context.Context, r io.Reader, rate int64) io.Reader {
	if rate <= 0 {
		return r
	}
	return limitReader{r, newLimiter(ctx, rate)}
}
