package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"golang.org/x/sys/unix"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
)

// newProxiedEnv is an env whose worker reaches S3 through a proxy the test
// controls.
func newProxiedEnv(t *testing.T, cfg activities.Config) (*env, *testenv.Proxy) {
	t.Helper()
	e := &env{t: t, temporal: testenv.StartTemporal(t), pg: testenv.StartPostgres(t), fileDir: t.TempDir()}
	e.s3 = testenv.StartS3(t, bucket)
	proxy := testenv.StartProxy(t, strings.TrimPrefix(e.s3.Endpoint, "http://"))
	cfg.S3Endpoint = proxy.URL()
	e.worker = e.temporal.StartWorkerWith(t, worker.Options{Activities: cfg})
	return e, proxy
}

// randomDB creates db with about mib MiB of bytes no compression shrinks,
// so its dump spans several upload parts.
func (e *env) randomDB(db string, mib int) {
	e.t.Helper()
	e.exec("postgres", "CREATE DATABASE "+db)
	e.exec(db, "CREATE TABLE blobs (id int PRIMARY KEY, b bytea)",
		fmt.Sprintf(`INSERT INTO blobs SELECT i, decode((SELECT string_agg(md5(random()::text || i || j), '') FROM generate_series(1, 64) j), 'hex')
		 FROM generate_series(1, %d) i`, mib*1024))
}

// attempts counts, per activity type, the attempts a finished run's
// history records (scheduled events and, on the started event, the
// attempt number of the last try).
func (e *env) attempts(t *testing.T, id, runID string) map[string]int32 {
	t.Helper()
	it := e.temporal.Client.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]string{}
	out := map[string]int32{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			out[scheduled[a.GetScheduledEventId()]] += a.GetAttempt()
		}
	}
	return out
}

// watchListing records every data object the bucket lists while a run
// goes, so a test can check none was ever partial.
func (e *env) watchListing(t *testing.T, prefix string) (stop func() map[string][]int64) {
	t.Helper()
	seen := map[string][]int64{}
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(30 * time.Millisecond):
			}
			out, err := e.s3.Client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/")})
			if err != nil {
				continue
			}
			mu.Lock()
			for _, o := range out.Contents {
				seen[*o.Key] = append(seen[*o.Key], aws.ToInt64(o.Size))
			}
			mu.Unlock()
		}
	}()
	return func() map[string][]int64 {
		close(done)
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// waitPending waits until the run has a pending activity of type name
// at attempt >= attempt, and returns its last failure.
func (e *env) waitPending(t *testing.T, id, name string, attempt int32) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		d, err := e.temporal.Client.DescribeWorkflowExecution(context.Background(), id, "")
		if err == nil {
			for _, p := range d.GetPendingActivities() {
				if p.GetActivityType().GetName() == name && p.GetAttempt() >= attempt {
					return p.GetLastFailure().GetMessage()
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s attempt %d in %s within 2 minutes", name, attempt, id)
	return ""
}

// An upload that breaks half way: with the default spool it is retried
// from the spooled copy, the database dumped once; with spool: none the
// dump is taken again. Either way the dump restores, no object is ever
// listed before it is complete, and no unfinished upload is left.
func TestUploadBreaksHalfWay(t *testing.T) {
	e, proxy := newProxiedEnv(t, activities.Config{})
	e.randomDB("big", 20)
	want := e.rows("big")
	for _, spool := range []string{config.SpoolDisk, config.SpoolNone} {
		t.Run(spool, func(t *testing.T) {
			task := e.task(config.ActionPush, "big", "s3")
			task.Path, task.Spool = "broken-"+spool, spool
			stop := e.watchListing(t, task.Path)
			proxy.CutAfter(3 << 20) // into the first 8 MiB part
			run, err := starter.Start(context.Background(), e.temporal.Client, starter.Request{Task: task})
			if err != nil {
				t.Fatal(err)
			}
			// Let the breakage fail the streamed upload, then heal.
			if spool == config.SpoolDisk {
				e.waitPending(t, run.GetID(), "Upload", 1)
			} else {
				e.waitPending(t, run.GetID(), "Dump", 2)
			}
			proxy.Forward()
			var res struct{ Key string }
			if err := run.Get(context.Background(), &res); err != nil {
				t.Fatalf("push after a broken upload: %v", err)
			}
			seen := stop()
			n := e.attempts(t, run.GetID(), run.GetRunID())
			if spool == config.SpoolDisk && (n["Dump"] != 1 || n["Upload"] < 1) {
				t.Errorf("attempts %v; want one dump, and the upload retried from the spool", n)
			}
			if spool == config.SpoolNone && (n["Dump"] < 2 || n["Upload"] != 0) {
				t.Errorf("attempts %v; want the dump taken again and no upload step", n)
			}
			final, err := e.s3.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(res.Key)})
			if err != nil {
				t.Fatal(err)
			}
			for key, sizes := range seen {
				if strings.HasSuffix(key, dump.ManifestSuffix) {
					continue
				}
				for _, sz := range sizes {
					if key != res.Key || sz != aws.ToInt64(final.ContentLength) {
						t.Errorf("listed %s with %d bytes while the push ran; the complete dump is %s, %d bytes", key, sz, res.Key, aws.ToInt64(final.ContentLength))
						break
					}
				}
			}
			ups, err := e.s3.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) != 0 {
				t.Errorf("%d unfinished multipart uploads left behind", len(ups.Uploads))
			}
			pull := e.task(config.ActionPull, "big_copy_"+spool, "s3")
			pull.Path, pull.SourceDatabase = task.Path, "big"
			e.mustRunT(t, starter.Request{Task: pull})
			sameRows(t, want, e.rows("big_copy_"+spool))
		})
	}
}

// With spool: none, a dump that fails on its own (here: no such database)
// is reported with the database tool's reason and not retried as if the
// upload had failed.
func TestSpoolNoneDumpFailureIsTheDumps(t *testing.T) {
	e := newEnv(t, true)
	task := e.task(config.ActionPush, "no_such_db", "s3")
	task.Spool = config.SpoolNone
	out, err := e.run(starter.Request{Task: task})
	if err == nil || !strings.Contains(err.Error(), "database no_such_db does not exist") || strings.Contains(err.Error(), "retry dumps again") {
		t.Fatalf("push of a missing database: %v; want the server's reason, not an upload failure", err)
	}
	if n := e.attempts(t, out.WorkflowID, out.RunID); n["Dump"] > 1 {
		t.Errorf("the dump of a missing database ran %d attempts; want 1", n["Dump"])
	}
}

// An upload whose abort fails too (the store refusing every request for a
// while) leaves an unfinished multipart upload; the retry, which reads the
// key it was writing from the last heartbeat, aborts it, so no debris is
// left once the push succeeds.
func TestFailedAbortIsSweptByTheRetry(t *testing.T) {
	every := activities.HeartbeatEvery
	activities.HeartbeatEvery = 200 * time.Millisecond // so the key is in a heartbeat before the failure
	t.Cleanup(func() { activities.HeartbeatEvery = every })
	e, proxy := newProxiedEnv(t, activities.Config{})
	e.randomDB("big", 20)
	task := e.task(config.ActionPush, "big", "s3")
	task.Spool = config.SpoolNone
	proxy.CutAfter(3 << 20)
	run, err := starter.Start(context.Background(), e.temporal.Client, starter.Request{Task: task})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); proxy.Cut.Load() == 0; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no upload was cut within a minute")
		}
	}
	proxy.Refuse() // the part's retries and the abort fail
	e.waitPending(t, run.GetID(), "Dump", 2)
	unfinished := func() int {
		out, err := e.s3.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Uploads)
	}
	if n := unfinished(); n == 0 {
		t.Fatal("the failed attempt left no unfinished upload: this test would prove nothing")
	}
	proxy.Forward()
	if err := run.Get(context.Background(), nil); err != nil {
		t.Fatalf("push once the store is back: %v", err)
	}
	if n := unfinished(); n != 0 {
		t.Errorf("%d unfinished uploads left after the retry succeeded", n)
	}
}

// With spool: none a push and a pull put no dump data in the temp dir, at
// any moment: inotify sees every file created there, and the only one is
// the pull's note of the rows the server took (table names and numbers,
// for its check, removed with the run's temp files).
func TestSpoolNoneLeavesTempDirUntouched(t *testing.T) {
	e := newEnv(t, true)
	e.randomDB("big", 12)
	tmp := t.TempDir()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, tmp, unix.IN_CREATE|unix.IN_MODIFY|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	push := e.task(config.ActionPush, "big", "s3")
	push.TempPath, push.Spool = tmp, config.SpoolNone
	pushed := e.mustRun(starter.Request{Task: push})
	pull := e.task(config.ActionPull, "big_copy", "s3")
	pull.TempPath, pull.SourceDatabase = tmp, "big"
	e.mustRun(starter.Request{Task: pull})
	buf := make([]byte, 1<<16)
	n, _ := unix.Read(fd, buf)
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
		if !strings.HasSuffix(name, ".dump.counts") || !strings.Contains(name, "-pull-loaded-") {
			t.Errorf("the temp dir saw %s written during a spool: none push of %s and a streamed pull", name, dump.HumanSize(pushed.Push.Size))
		}
		off += unix.SizeofInotifyEvent + int(ev.Len)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("the runs left %d files in the temp dir", len(left))
	}
	sameRows(t, e.rows("big"), e.rows("big_copy"))
}

// An object damaged in its last part (its manifest still the original's)
// is found while it streams into the staging copy: the pull fails naming
// the key, the target stays as it was and no staging copy is left. With
// zstd its frame checksum may catch it first; uncompressed, only the
// sha256 over the stored bytes can.
func TestDamagedLastPartFailsThePull(t *testing.T) {
	e := newEnv(t, true)
	e.randomDB("big", 12)
	e.exec("postgres", "CREATE DATABASE big_staging")
	e.exec("big_staging", "CREATE TABLE precious (v text)", "INSERT INTO precious VALUES ('still here')")
	for _, c := range []string{dump.Zstd, dump.None} {
		t.Run(c, func(t *testing.T) {
			push := e.task(config.ActionPush, "big", "s3")
			push.Path, push.Compression = "damaged-"+c, c
			pushed := e.mustRunT(t, starter.Request{Task: push}).Push
			obj := e.getObject(t, bucket, pushed.Key)
			obj[len(obj)-200] ^= 0x01
			e.putObject(t, bucket, pushed.Key, obj)

			pull := e.task(config.ActionPull, "big_staging", "s3")
			pull.Path, pull.SourceDatabase = push.Path, "big"
			before := e.snapshot("big_staging")
			_, err := e.run(starter.Request{Task: pull})
			if err == nil || !strings.Contains(err.Error(), "dump "+pushed.Key+" is damaged") {
				t.Fatalf("pull of an object damaged in its last part: %v; want it reported as damaged, naming the key", err)
			}
			e.assertUntouched(t, "big_staging", before)
		})
	}
}

// Every compression pushes, pulls, and restores by hand with the README's
// commands; gzip is what every dump before zstd was, and stays restorable.
func TestEveryCompressionRestores(t *testing.T) {
	e := newEnv(t, false)
	e.createShop("shop")
	want := e.rows("shop")
	byHand := map[string]string{
		dump.Zstd: "zstd -dc %q | %q --exit-on-error --no-password -h %s -p %d -U postgres -d %s",
		dump.Gzip: "gunzip -c %q | %q --exit-on-error --no-password -h %s -p %d -U postgres -d %s",
		dump.None: "%[2]q --exit-on-error --no-password -h %[3]s -p %[4]d -U postgres -d %[5]s < %[1]q",
	}
	for _, c := range dump.Compressions {
		t.Run(c, func(t *testing.T) {
			push := e.task(config.ActionPush, "shop", "file")
			push.Path, push.Compression = "pg-"+c, c
			pushed := e.mustRunT(t, starter.Request{Task: push}).Push
			if pushed.Compression != c {
				t.Errorf("pushed with %s, asked for %s", pushed.Compression, c)
			}
			pull := e.task(config.ActionPull, "copy_"+c, "file")
			pull.Path, pull.SourceDatabase = push.Path, "shop"
			e.mustRunT(t, starter.Request{Task: pull})
			sameRows(t, want, e.rows("copy_"+c))

			e.exec("postgres", "CREATE DATABASE by_hand_"+c)
			cmd := exec.Command("sh", "-c", fmt.Sprintf(byHand[c], filepath.Join(e.fileDir, pushed.Key), filepath.Join(e.pg.BinDir, "pg_restore"),
				e.pg.Host, e.pg.Port, "by_hand_"+c))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("restore %s dump by hand: %v: %s", c, err, out)
			}
			sameRows(t, want, e.rows("by_hand_"+c))
		})
	}
}

// A store that accepts connections and never answers fails the upload's
// attempt once it has not answered for the limit (shortened here; 10 s for
// a listing by default, 45 s for bytes in flight), instead of keeping it
// alive for the step's hours; the push succeeds once a working store is
// back.
func TestStalledStoreFailsTheAttempt(t *testing.T) {
	e, proxy := newProxiedEnv(t, activities.Config{StallAfter: 3 * time.Second, AnswerWithin: 2 * time.Second})
	e.randomDB("big", 12)
	proxy.Stall()
	task := e.task(config.ActionPush, "big", "s3")
	task.Spool = config.SpoolNone
	run, err := starter.Start(context.Background(), e.temporal.Client, starter.Request{Task: task})
	if err != nil {
		t.Fatal(err)
	}
	last := e.waitPending(t, run.GetID(), "Dump", 2)
	if !strings.Contains(last, "stalled") || !strings.Contains(last, "no answer within 2s") {
		t.Errorf("first attempt failed with %q; want it to say the store did not answer", last)
	}
	proxy.Forward()
	if err := run.Get(context.Background(), nil); err != nil {
		t.Fatalf("push once the store is back: %v", err)
	}
}

// With the default limits, a push to a store that accepts connections and
// never answers fails each step within a minute, asking the store once per
// step: the listing that sizes the upload stalls, and neither the sweep of
// unfinished uploads nor the upload waits out a limit of its own after it
// (they used to, 45 s each: Upload's second attempt came at 238 s). The
// dump itself is taken once and kept in the spool, and the progress line
// says that nothing is moving.
func TestUnansweringStoreFailsTheStepWithinAMinute(t *testing.T) {
	e, proxy := newProxiedEnv(t, activities.Config{})
	e.randomDB("big", 12)
	tasks := e.bigPushTasks(t, "s3", "")
	proxy.Stall()
	began := time.Now()
	run := e.startOnTerminal(t, "push", "--tasks", tasks, "--task", "push_big")

	id := "envsync-" + testenv.Host + "-" + e.pg.Addr() + "/big"
	last := e.waitPending(t, id, "Upload", 2)
	took := time.Since(began)
	asked := proxy.Stalled.Load()
	proxy.Forward()
	term, stdout := run.wait(t)
	if took > 75*time.Second {
		t.Errorf("the dump and the first upload attempt took %s against a store that never answers; want each step to fail within about a minute", took.Round(time.Second))
	}
	if asked != 2 {
		t.Errorf("the store was asked %d times in the dump and the first upload; want once per step", asked)
	}
	if !strings.Contains(last, "no answer within 10s") {
		t.Errorf("the upload failed with %q; want it to say the store did not answer within 10s", last)
	}
	if got := e.attempts(t, id, "")["Dump"]; got != 1 {
		t.Errorf("the database was dumped in %d attempts; want 1 (the spool keeps it)", got)
	}
	if !strings.Contains(term, "no bytes moved for ") {
		t.Errorf("the progress line never said nothing was moving:\n%q", term)
	}
	if !strings.Contains(stdout, "pushed    postgresql/") {
		t.Errorf("summary missing:\n%s", stdout)
	}
}

// envsync push on a terminal shows a live progress line, and while a step
// is retried the line says so, with the attempt and the last error.
func TestProgressLineOnTerminal(t *testing.T) {
	// Heartbeat often, so a dump of seconds shows its progress.
	every := activities.HeartbeatEvery
	activities.HeartbeatEvery = 300 * time.Millisecond
	t.Cleanup(func() { activities.HeartbeatEvery = every }) // runs after the worker stops
	// Capped at 8 MiB/s, the second attempt's ~54 MB upload lasts long
	// enough for the once-a-second line to show it moving, however fast
	// the machine is.
	e, proxy := newProxiedEnv(t, activities.Config{UploadLimit: 8 << 20})
	e.randomDB("big", 40)
	proxy.Refuse()
	tasks := e.bigPushTasks(t, "s3", "    spool: none\n")
	run := e.startOnTerminal(t, "push", "--tasks", tasks, "--task", "push_big")

	id := "envsync-" + testenv.Host + "-" + e.pg.Addr() + "/big"
	e.waitPending(t, id, "Dump", 2)
	time.Sleep(3 * time.Second) // the line refreshes every second
	proxy.Forward()
	out, stdout := run.wait(t)
	if !strings.Contains(out, "\r\033[K") {
		t.Errorf("no line rewritten in place on the terminal:\n%q", out)
	}
	if !strings.Contains(out, "attempt 2") || !strings.Contains(out, "last error:") {
		t.Errorf("the progress line never showed the retry and its error:\n%q", out)
	}
	if !strings.Contains(out, "MiB of ~") || !strings.Contains(out, "/s") {
		t.Errorf("the progress line never showed bytes of the expected total and a rate:\n%q", out)
	}
	if !strings.Contains(stdout, "pushed    postgresql/") {
		t.Errorf("summary missing:\n%s", stdout)
	}
}

// openPTY opens a pseudo-terminal pair: what the command under test writes
// to slave, the test reads from master.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m, s
}

// A worker with --upload-limit paces its uploads: a push of about 4 MB at
// 1 MiB/s takes at least about 4 s (a lower bound: a busy machine can only
// make it slower), and the dump arrives whole.
func TestUploadLimitCapsThePush(t *testing.T) {
	e := newEnvWith(t, false, worker.Options{Activities: activities.Config{UploadLimit: 1 << 20}})
	e.exec("postgres", "CREATE DATABASE capped")
	e.exec("capped", "CREATE TABLE t AS SELECT repeat(md5(i::text), 40) AS v FROM generate_series(1, 3000) i")
	push := e.task("push", "capped", "file")
	push.Compression = "none" // the size sent is the dump's own
	out := e.mustRun(starter.Request{Task: push})
	p := out.Push
	floor := float64(p.Size) / float64(1<<20)
	if p.Size < 3<<20 || p.DumpSeconds < 0.8*floor {
		t.Errorf("pushed %d bytes in %.1fs at a 1 MiB/s cap; want at least %.1fs", p.Size, p.DumpSeconds, 0.8*floor)
	}
	pull := e.task("pull", "capped_copy", "file")
	pull.SourceDatabase = "capped"
	e.mustRun(starter.Request{Task: pull})
	if want, got := e.rows("capped"), e.rows("capped_copy"); fmt.Sprint(want) != fmt.Sprint(got) {
		t.Error("the capped dump restores to something else")
	}
}

// loseFirstDump drops the result of the Dump step's first attempt after
// the attempt has done all its work: what happens when its worker or
// Temporal goes away just as it finishes.
type loseFirstDump struct {
	interceptor.WorkerInterceptorBase
}

func (l *loseFirstDump) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &lostDump{}
	i.Next = next
	return i
}

type lostDump struct {
	interceptor.ActivityInboundInterceptorBase
}

func (l *lostDump) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := l.Next.ExecuteActivity(ctx, in)
	if info := activity.GetInfo(ctx); err == nil && info.ActivityType.Name == "Dump" && info.Attempt == 1 {
		return nil, errors.New("the attempt's result was lost on its way to Temporal")
	}
	return res, err
}

// A retried dump step whose earlier attempt stored the dump complete (and
// could not say so) returns that dump instead of dumping again: one dump
// in the store, and the push names it.
func TestRetriedDumpReturnsTheDumpAnEarlierAttemptStored(t *testing.T) {
	e := newEnvWith(t, true, worker.Options{Interceptors: []interceptor.WorkerInterceptor{&loseFirstDump{}}})
	e.createShop("shop")
	for _, backend := range []string{"file", "s3"} {
		t.Run(backend, func(t *testing.T) {
			task := e.task(config.ActionPush, "shop", backend)
			task.Path = "retried-" + backend
			out := e.mustRunT(t, starter.Request{Task: task})
			p := out.Push
			if got := e.attempts(t, out.WorkflowID, out.RunID)["Dump"]; got != 2 {
				t.Fatalf("the dump step ran %d attempts; want 2 (the first one's result lost)", got)
			}
			keys := e.storeKeys(t, backend, task.Path)
			manifests := 0
			for _, k := range keys {
				if strings.HasSuffix(k, dump.ManifestSuffix) {
					manifests++
				}
			}
			if manifests != 1 || !p.Reused || !slices.Contains(keys, p.Key) {
				t.Errorf("store holds %v after a retried dump step; push names %s (reused %v); want the one dump the first attempt stored", keys, p.Key, p.Reused)
			}
			pull := e.task(config.ActionPull, "shop_"+backend, backend)
			pull.Path, pull.SourceDatabase = task.Path, "shop"
			e.mustRunT(t, starter.Request{Task: pull})
			sameRows(t, e.rows("shop"), e.rows("shop_"+backend))
		})
	}
}

// storeKeys lists the keys under path in the env's file or S3 store.
func (e *env) storeKeys(t *testing.T, backend, path string) []string {
	t.Helper()
	var keys []string
	if backend == "s3" {
		out, err := e.s3.Client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(path + "/")})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		return keys
	}
	entries, err := os.ReadDir(filepath.Join(e.fileDir, path))
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		keys = append(keys, path+"/"+en.Name())
	}
	return keys
}

// bigPushTasks writes a tasks file with push_big: the env's database big
// to the store backend, with more task lines (indented) in extra.
func (e *env) bigPushTasks(t *testing.T, backend, extra string) string {
	t.Helper()
	task := e.task(config.ActionPush, "big", backend)
	return writeFile(t, t.TempDir(), "tasks.yaml", fmt.Sprintf(`
tasks:
  push_big:
    action: push
    dbms: postgresql
    storagebackend: %s
    url: %s
    path: postgresql
    database: big
    database_hostname: %s
    worker_host: %s
%s`, backend, task.URL, e.pg.Addr(), testenv.Host, extra))
}

// onTerminal is the binary running with its stderr on a pseudo-terminal,
// as at an operator's prompt.
type onTerminal struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	term   bytes.Buffer
	copied chan struct{}
}

// startOnTerminal starts the binary with args against the env's Temporal.
func (e *env) startOnTerminal(t *testing.T, args ...string) *onTerminal {
	t.Helper()
	master, slave := openPTY(t)
	r := &onTerminal{cmd: exec.Command(binary(t), args...), copied: make(chan struct{})}
	r.cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+e.temporal.Server.GetFrontendHostPort(), "TEMPORAL_NAMESPACE="+e.temporal.Namespace)
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, slave
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	go func() { _, _ = r.term.ReadFrom(master); close(r.copied) }()
	return r
}

// wait waits for the command to end successfully and returns what it
// showed on the terminal and printed on stdout.
func (r *onTerminal) wait(t *testing.T) (term, stdout string) {
	t.Helper()
	err := r.cmd.Wait()
	<-r.copied
	if err != nil {
		t.Fatalf("%v: %v\n%s\n%s", r.cmd.Args[1:], err, r.stdout.String(), r.term.String())
	}
	return r.term.String(), r.stdout.String()
}
