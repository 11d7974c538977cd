package activities_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/retention"
	"github.com/envsync/envsync/store"
)

// retentionStore is one real store with a push task on it, and the local
// directory its prefix lives in, where tests age objects.
type retentionStore struct {
	task config.Task
	cfg  activities.Config
	disk string
	st   store.Store
}

func startStore(t *testing.T, backend string) retentionStore {
	t.Helper()
	task := config.Task{Name: "push_orders", Action: "push", DBMS: "postgresql", StorageBackend: backend, Database: "orders",
		Path: "pg", WorkerHost: "db1", Keep: 2}
	cfg := activities.Config{LockDir: t.TempDir(), TempDir: t.TempDir()}
	var disk string
	switch backend {
	case "file":
		task.URL = t.TempDir()
		disk = filepath.Join(task.URL, "pg")
	case "rsync":
		sshd := testenv.StartSSHD(t)
		task.URL, task.Path = sshd.Target, strings.TrimPrefix(sshd.Root, "/")+"/pg"
		cfg.SSHIdentity, cfg.SSHKnownHosts = sshd.Identity, sshd.KnownHosts
		disk = "/" + task.Path
	case "s3":
		s3 := testenv.StartS3(t, "dumps")
		task.URL, cfg.S3Endpoint = "dumps", s3.Endpoint
		disk = filepath.Join(s3.Dir, "dumps", "pg")
	}
	info, _ := store.Lookup(backend)
	st, err := info.New(context.Background(), store.Spec{URL: task.URL, S3Endpoint: cfg.S3Endpoint,
		SSHIdentity: cfg.SSHIdentity, SSHKnownHosts: cfg.SSHKnownHosts})
	if err != nil {
		t.Fatal(err)
	}
	return retentionStore{task: task, cfg: cfg, disk: disk, st: st}
}

func (s retentionStore) put(t *testing.T, key string, body []byte) {
	t.Helper()
	if s.task.StorageBackend == "rsync" {
		// The remote side is on this machine: each rsync over ssh costs
		// seconds here, and what is under test is reading it back.
		p := filepath.Join(s.disk, strings.TrimPrefix(key, s.task.Path+"/"))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := s.st.Put(context.Background(), key, bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
}

// putDump stores a complete dump of db taken at at.
func (s retentionStore) putDump(t *testing.T, db string, at time.Time) string {
	t.Helper()
	key := dump.Key(s.task.Path, db, at, dump.Zstd)
	data := bytes.Repeat([]byte("d"), 100)
	s.put(t, key, data)
	sum := sha256.Sum256(data)
	m, _ := dump.Manifest{Format: dump.ManifestFormat, Key: key, DBMS: "postgresql", Database: db, CreatedAt: at,
		Size: 100, SHA256: hex.EncodeToString(sum[:]), Compression: dump.Zstd}.Marshal()
	s.put(t, dump.ManifestKey(key), m)
	return key
}

// age sets the stored time of key, as the store reports it.
func (s retentionStore) age(t *testing.T, key string, to time.Time) {
	t.Helper()
	p := filepath.Join(s.disk, strings.TrimPrefix(key, s.task.Path+"/"))
	if err := os.Chtimes(p, to, to); err != nil {
		t.Fatal(err)
	}
}

func (s retentionStore) keys(t *testing.T) []string {
	t.Helper()
	objs, err := s.st.List(context.Background(), s.task.Path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	slices.Sort(out)
	return out
}

func run[T any](t *testing.T, cfg activities.Config, fn any, in any) (T, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	acts := activities.New(cfg)
	env.RegisterActivity(acts)
	var out T
	v, err := env.ExecuteActivity(fn, in)
	if err == nil && v.HasValue() {
		err = v.Get(&out)
	}
	return out, err
}

var acts *activities.Activities // names the activities

func mustRun[T any](t *testing.T, cfg activities.Config, fn any, in any) T {
	t.Helper()
	out, err := run[T](t, cfg, fn, in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Retention on every store envsync writes: the policy removes what it
// should, with reasons; a pull's hold, keep forever and the newest dump
// protect; orphans older than a day go; foreign objects and other
// databases stay; a dry run deletes nothing.
func TestPruneOnRealStores(t *testing.T) {
	for _, backend := range []string{"file", "rsync", "s3"} {
		t.Run(backend, func(t *testing.T) {
			s := startStore(t, backend)
			p := s.task.Path
			now := time.Now().UTC().Truncate(time.Second)
			day := func(n int) time.Time { return now.Add(-time.Duration(n)*24*time.Hour - time.Hour) }
			var orders []string // newest first
			for i := 1; i <= 5; i++ {
				orders = append(orders, s.putDump(t, "orders", day(i)))
			}
			shop := s.putDump(t, "shop", day(10))
			s.put(t, p+"/README.txt", []byte("not a dump"))
			s.put(t, p+"/archive/2020-01-01T000000Z-orders.zst", []byte("not ours either"))
			orphan := dump.Key(p, "orders", day(3).Add(time.Minute), dump.Zstd)
			s.put(t, orphan, []byte("half an upload"))
			s.age(t, orphan, now.Add(-30*time.Hour))
			young := dump.Key(p, "orders", now.Add(-time.Hour), dump.Zstd)
			s.put(t, young, []byte("an upload whose manifest is on its way"))

			// A pull restoring the dump of four days ago holds it, as its
			// Resolve step does; the one of five days ago is kept forever.
			pull := s.task
			pull.Name, pull.Action, pull.Keep = "pull_orders", "pull", 0
			rr := mustRun[activities.ResolveResult](t, s.cfg, acts.Resolve, activities.ResolveInput{Task: pull, Key: orders[3], Hold: true})
			if rr.Hold == "" || rr.HoldError != "" || !retention.IsHoldKey(p, rr.Hold) {
				t.Fatalf("resolve wrote no hold: %+v", rr)
			}
			kr := mustRun[activities.KeepResult](t, s.cfg, acts.Keep, activities.KeepInput{Task: s.task, Key: orders[4]})
			if kr.Existed || kr.Hold == "" {
				t.Fatalf("keep: %+v", kr)
			}
			// Holds are never taken for dumps by the latest-dump lookup.
			latest := mustRun[activities.ResolveResult](t, s.cfg, acts.Resolve, activities.ResolveInput{Task: pull})
			if latest.Key != orders[0] {
				t.Fatalf("latest dump %s, want %s", latest.Key, orders[0])
			}

			before := s.keys(t)
			dry := mustRun[activities.PruneResult](t, s.cfg, acts.Prune, activities.PruneInput{Task: s.task, DryRun: true})
			if got := s.keys(t); !slices.Equal(got, before) {
				t.Fatalf("a dry run changed the store:\nbefore %v\nafter  %v", before, got)
			}
			wantReasons := map[string]string{orders[2]: "beyond keep 2", orphan: "data without a manifest, stored more than a day ago (a failed upload's leftovers)"}
			checkRemoved(t, dry, wantReasons)
			if !dry.DryRun || dry.Dumps != 1 || dry.Orphans != 1 || dry.Bytes != 100+manifestSize(t, s, orders[2])+int64(len("half an upload")) {
				t.Errorf("dry run counts: %+v", dry)
			}
			protected := map[string]string{}
			for _, k := range dry.Protected {
				protected[k.Key] = k.Reason
			}
			if !strings.HasPrefix(protected[orders[3]], "held by pull ") || protected[orders[4]] != "kept forever (envsync keep)" {
				t.Errorf("protected: %v", dry.Protected)
			}

			res := mustRun[activities.PruneResult](t, s.cfg, acts.Prune, activities.PruneInput{Task: s.task})
			checkRemoved(t, res, wantReasons)
			if res.Dumps != 1 || res.Orphans != 1 || res.Bytes != dry.Bytes {
				t.Errorf("counts: %+v", res)
			}
			left := s.keys(t)
			for _, k := range []string{orders[2], dump.ManifestKey(orders[2]), orphan} {
				if slices.Contains(left, k) {
					t.Errorf("%s is still there", k)
				}
			}
			for _, k := range []string{orders[0], orders[1], orders[3], orders[4], dump.ManifestKey(orders[4]), shop, young,
				p + "/README.txt", p + "/archive/2020-01-01T000000Z-orders.zst", rr.Hold, kr.Hold} {
				if !slices.Contains(left, k) {
					t.Errorf("%s was removed", k)
				}
			}

			// Released, the held dumps go; the newest stays whatever the
			// policy says.
			mustRun[any](t, s.cfg, acts.ReleaseHold, activities.ReleaseInput{Task: pull, Hold: rr.Hold})
			mustRun[activities.KeepResult](t, s.cfg, acts.Keep, activities.KeepInput{Task: s.task, Key: orders[4], Release: true})
			byAge := s.task
			byAge.Keep, byAge.KeepDays = 0, 1
			res = mustRun[activities.PruneResult](t, s.cfg, acts.Prune, activities.PruneInput{Task: byAge})
			checkRemoved(t, res, map[string]string{orders[1]: "older than 1 days", orders[3]: "older than 1 days", orders[4]: "older than 1 days"})
			left = s.keys(t)
			if !slices.Contains(left, orders[0]) || !slices.Contains(left, shop) {
				t.Errorf("newest dump or another database's dump removed: %v", left)
			}
			for _, k := range left {
				if retention.IsHoldKey(p, k) {
					t.Errorf("hold %s left after release", k)
				}
			}
		})
	}
}

func manifestSize(t *testing.T, s retentionStore, key string) int64 {
	t.Helper()
	o, err := s.st.Stat(context.Background(), dump.ManifestKey(key))
	if err != nil {
		t.Fatal(err)
	}
	return o.Size
}

func checkRemoved(t *testing.T, res activities.PruneResult, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, r := range res.Removed {
		got[r.Key] = r.Reason
	}
	if len(got) != len(want) {
		t.Errorf("removed %v, want %v", got, want)
	}
	for k, why := range want {
		if got[k] != why {
			t.Errorf("%s: reason %q, want %q (removed: %v)", k, got[k], why, got)
		}
	}
}

// A key that is no dump, or a dump without a manifest, cannot be kept.
func TestKeepRefusesWhatIsNoCompleteDump(t *testing.T) {
	s := startStore(t, "file")
	orphan := dump.Key(s.task.Path, "orders", time.Now(), dump.Zstd)
	s.put(t, orphan, []byte("x"))
	for key, want := range map[string]string{
		s.task.Path + "/README.txt": "is not a dump key under",
		orphan:                      "has no manifest",
	} {
		_, err := run[activities.KeepResult](t, s.cfg, acts.Keep, activities.KeepInput{Task: s.task, Key: key})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("keep %s: %v, want %q", key, err, want)
		}
	}
}

// racyStore is a file store on which a pull resolves a dump at the worst
// moment for it: after the prune looked for holds, just before the prune
// deletes the dump's manifest.
type racyStore struct {
	store.Store
}

// racyResolve is what the racing pull does; set by the one test using it.
var racyResolve func(dataKey string)

func init() {
	store.Register(store.Info{Name: "racyfile", New: func(ctx context.Context, sp store.Spec) (store.Store, error) {
		info, _ := store.Lookup("file")
		st, err := info.New(ctx, sp)
		return racyStore{st}, err
	}})
}

func (r racyStore) Delete(ctx context.Context, key string) error {
	if data, ok := strings.CutSuffix(key, dump.ManifestSuffix); ok && racyResolve != nil {
		racyResolve(data)
	}
	return r.Store.Delete(ctx, key)
}

// A pull that gets past Resolve keeps its dump's data even when a prune
// was already deleting that dump: the pull's hold is written before it
// reads the manifest, and the prune looks again between manifest and data.
func TestPruneRacingAPullKeepsItsData(t *testing.T) {
	s := startStore(t, "file")
	now := time.Now().UTC()
	var keys []string // newest first
	for i := 1; i <= 3; i++ {
		keys = append(keys, s.putDump(t, "orders", now.Add(-time.Duration(i)*time.Hour)))
	}
	pull := s.task
	pull.Name, pull.Action, pull.Keep = "pull_orders", "pull", 0
	var resolved activities.ResolveResult
	var resolveErr error
	racyResolve = func(data string) {
		if data != keys[2] || resolved.Key != "" {
			return
		}
		resolved, resolveErr = run[activities.ResolveResult](t, s.cfg, acts.Resolve, activities.ResolveInput{Task: pull, Key: data, Hold: true})
	}
	defer func() { racyResolve = nil }()
	task := s.task
	task.StorageBackend, task.Keep = "racyfile", 1
	res := mustRun[activities.PruneResult](t, s.cfg, acts.Prune, activities.PruneInput{Task: task})
	if resolveErr != nil || resolved.Hold == "" {
		t.Fatalf("the racing pull resolved %+v, %v", resolved, resolveErr)
	}
	if _, err := os.Stat(filepath.Join(s.disk, strings.TrimPrefix(keys[2], "pg/"))); err != nil {
		t.Errorf("the data of the dump the pull resolved is gone: %v", err)
	}
	held := false
	for _, k := range res.Protected {
		held = held || (k.Key == keys[2] && strings.HasPrefix(k.Reason, "held by pull "))
	}
	if !held || res.Dumps != 1 {
		t.Errorf("prune removed %d dumps, protected %+v; want %s removed and %s held", res.Dumps, res.Protected, keys[1], keys[2])
	}
}
