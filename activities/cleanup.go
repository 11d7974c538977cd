package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/envsync/envsync/config"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// CleanupInput names the task whose temp files of this run are removed.
type CleanupInput struct {
	Task config.Task
}

// RemoveTemp deletes this run's temp files on this host, whatever state the
// run ended in, so failed runs do not fill the disk (as the original's did).
func (a *Activities) RemoveTemp(ctx context.Context, in CleanupInput) error {
	for _, kind := range []string{"push", "push-sanitised", "pull", "pull-archive", loadedKind} {
		p := a.tempName(ctx, in.Task, kind)
		for _, p := range []string{p, countsFile(p)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove temp file %s: %w", p, err)
			}
		}
	}
	return nil
}
