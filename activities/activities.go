// Package activities holds every step of a push or pull that touches the
// outside world: lock files, database tools, stores, temp files. They run on
// a worker on the database host (task queue "envsync-host-<host>"), take
// small named inputs and return keys, sizes, checksums and durations, never
// data or secrets, because both end up in Temporal's history.
package activities

import (
	"context"
	"errors"
	"filippo.io/age"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/store"
)

// Config is what a worker host knows about itself; none of it travels in
// workflow inputs.
type Config struct {
	// Host is this worker's name, recorded in manifests as the source.
	Host string
	// LockDir holds one reboot-lock file per running task; the
	// unattended-reboot check refuses to reboot while any is there.
	LockDir string
	// TempDir is used for dumps in flight when a task names no temppath.
	TempDir string
	// S3 settings shared by every s3 task on this host (the bucket comes
	// from the task).
	S3Endpoint     string
	S3Region       string
	S3NoEncryption bool
	// SSHIdentity and SSHKnownHosts are used for rsync stores; empty means
	// ssh's defaults for the worker's user.
	SSHIdentity   string
	SSHKnownHosts string
	// HooksDir holds the executables tasks name as before/after hooks.
	HooksDir string
	// StallAfter fails a store request whose bytes stop moving for this
	// long (0: the store's default, 45s); AnswerWithin one that gets no
	// answer for this long (0: the store's default, 10s).
	StallAfter, AnswerWithin time.Duration
	// Engines holds the engines' own settings of this host, by the
	// name each engine registered them under (engine.Setting.Flag).
	Engines map[string]string
	// DumpPriority is the CPU and I/O priority of dump tools (pg_dump,
	// mysqldump); zero leaves them at the worker's.
	DumpPriority engine.Priority
	// UploadLimit caps uploads to a store, in bytes a second (0: none).
	UploadLimit int64
	// AgeIdentities decrypt encrypted dumps on pull; they stay on this
	// host.
	AgeIdentities []age.Identity
	Logger        *slog.Logger
}

// DefaultLockDir is where the original kept its reboot locks.
const DefaultLockDir = "/etc/unattended-reboot/no-reboot"

// Activities is registered with the worker; its methods are the steps.
type Activities struct {
	cfg Config
}

// New returns the activities of one worker host.
func New(cfg Config) *Activities {
	if cfg.LockDir == "" {
		cfg.LockDir = DefaultLockDir
	}
	if cfg.TempDir == "" {
		cfg.TempDir = filepath.Join(os.TempDir(), "envsync")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	return &Activities{cfg: cfg}
}

func (a *Activities) engine(t config.Task) (engine.Engine, error) {
	info, err := engineInfo(t)
	if err != nil {
		return nil, err
	}
	if t.DatabaseHostname != "" {
		if _, _, err := config.SplitHostPort(t.DatabaseHostname); err != nil {
			return nil, permanent(ErrInvalidTask, fmt.Errorf("database_hostname %q: %w", t.DatabaseHostname, err))
		}
	}
	eng, err := info.New(t.Spec(), engine.Settings{Values: a.cfg.Engines, Logger: a.cfg.Logger, DumpPriority: a.cfg.DumpPriority})
	if err != nil {
		return nil, classify(err)
	}
	return eng, nil
}

// engineInfo is what the task's engine registered about itself.
func engineInfo(t config.Task) (engine.Info, error) {
	info, ok := engine.Lookup(t.DBMS)
	if !ok {
		return info, permanent(ErrInvalidTask, fmt.Errorf("dbms %q is not supported by this worker (it has %s)", t.DBMS, strings.Join(engine.Names(), ", ")))
	}
	return info, nil
}

// native reports whether the task's store is its engine's own (a
// snapshot repository the database server keeps), and returns the engine
// as a Snapshotter if so.
func (a *Activities) native(t config.Task) (engine.Snapshotter, bool, error) {
	info, err := engineInfo(t)
	if err != nil || info.Native == "" || info.Native != t.StorageBackend {
		return nil, false, err
	}
	eng, err := a.engine(t)
	if err != nil {
		return nil, true, err
	}
	s, ok := eng.(engine.Snapshotter)
	if !ok {
		return nil, true, permanent(ErrInvalidTask, fmt.Errorf("dbms %s declares store %s but cannot snapshot", t.DBMS, info.Native))
	}
	return s, true, nil
}

func (a *Activities) store(ctx context.Context, t config.Task) (store.Store, error) {
	return a.storeFor(ctx, t, 0)
}

// storeFor is the task's store, tuned for an upload of about expect bytes
// (0: unknown).
func (a *Activities) storeFor(ctx context.Context, t config.Task, expect int64) (store.Store, error) {
	return a.storeAt(ctx, t.StorageBackend, t.URL, expect)
}

// storeAt opens the store backend names at url, with this host's settings
// for it (an s3_sync reads one bucket and writes another).
func (a *Activities) storeAt(ctx context.Context, backend, url string, expect int64) (store.Store, error) {
	info, ok := store.Lookup(backend)
	if !ok || info.Native {
		return nil, permanent(ErrInvalidTask, fmt.Errorf("storagebackend %q is not supported by this worker for streamed dumps", backend))
	}
	return info.New(ctx, store.Spec{URL: url, ExpectedSize: expect, StallAfter: a.cfg.StallAfter, AnswerWithin: a.cfg.AnswerWithin,
		S3Endpoint: a.cfg.S3Endpoint, S3Region: a.cfg.S3Region, S3NoEncryption: a.cfg.S3NoEncryption,
		SSHIdentity: a.cfg.SSHIdentity, SSHKnownHosts: a.cfg.SSHKnownHosts, UploadLimit: a.cfg.UploadLimit})
}

// permanent marks err as not worth retrying; kind is a stable type string
// operators and workflows can match on.
func permanent(kind string, err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), kind, err)
}

// classify turns engine errors that retrying cannot fix into non-retryable
// activity errors, and leaves the rest to the retry policy.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err
	}
	if engine.IsPermanent(err) {
		return permanent(ErrEngineFailed, err)
	}
	return err
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// tempPath is a file a run keeps on this host: named after the task and
// the run, so a retried step overwrites (or resumes) it and cleanup finds
// it. The task's name, not its database: a before_upload push dumps a
// scratch database under the same task. It creates the directory.
func (a *Activities) tempPath(ctx context.Context, t config.Task, kind string) (string, error) {
	p := a.tempName(ctx, t, kind)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("create temp directory %s: %w", filepath.Dir(p), err)
	}
	return p, nil
}

// tempName is tempPath without touching the disk.
func (a *Activities) tempName(ctx context.Context, t config.Task, kind string) string {
	dir := t.TempPath
	if dir == "" {
		dir = a.cfg.TempDir
	}
	run := activity.GetInfo(ctx).WorkflowExecution.RunID
	return filepath.Join(dir, fmt.Sprintf("envsync-%s-%s-%s.dump", unsafeName.ReplaceAllString(t.Name, "_"), kind, run))
}
