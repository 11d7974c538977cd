// Command datapath measures envsync's push and pull against the database
// tools alone, on the same data, in the same run: PostgreSQL 15 and an
// S3-protocol server (versitygw) on loopback, a generated database, a
// Temporal dev server and a separate `envsync worker` process whose memory
// is sampled. It prints medians of several rounds, ratios to the floors,
// the busy core-seconds of the whole machine meanwhile, the worker's peak
// anonymous memory and the temp disk used.
//
//	go run ./bench/datapath                  # about 2 GB, 3 rounds
//	go run ./bench/datapath -rows 800000     # about 200 MB
//	go run ./bench/datapath -rows 4000000 -pull-only -rounds 5   # pulls only
//	go run ./bench/datapath -sanitise -rows 2000000   # sanitising: about 600 MB of personal data
//
// Run by hand, not in CI: it takes minutes and wants the machine to itself.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine/postgres"
	"github.com/envsync/envsync/internal/pgserver"
	"github.com/envsync/envsync/internal/testenv"
)

const bucket = "bench"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "upload" {
		upload(os.Args[2], os.Args[3])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "stage" {
		stage(os.Args[2], os.Args[3:]...)
		return
	}
	rows := flag.Int("rows", 8_000_000, "rows to generate (8M is about 2.2 GB on disk, 1.5 GB of pg_dump -Z0)")
	rounds := flag.Int("rounds", 3, "rounds of every measurement; medians are printed")
	keep := flag.Bool("keep", false, "keep the work directory")
	pushOnly := flag.Bool("push-only", false, "measure pushes only")
	pullOnly := flag.Bool("pull-only", false, "measure pulls only (of dumps pushed once before the first round)")
	sanitise := flag.Bool("sanitise", false, "measure sanitising instead: a pull through rules transforming four columns against the same pull without rules, a before_upload push against a plain push, on a table of personal data")
	workerFlags := flag.String("worker-flags", "", "more flags for the worker under test, e.g. \"--dump-nice 0 --dump-ionice none\" to measure what the dump priority costs")
	profile := flag.Bool("profile", false, "after the rounds, run each envsync measurement once more with a CPU profile of the worker, and print where its time goes")
	flag.Parse()
	log.SetFlags(log.Ltime)
	flags := strings.Fields(*workerFlags)
	var pprofAddr string
	if *profile {
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", freePort())
		flags = append(flags, "--metrics-listen", pprofAddr, "--pprof")
	}
	b, err := setup(*rows, flags, *sanitise)
	if err != nil {
		log.Fatal(err)
	}
	b.pprofAddr = pprofAddr
	defer b.stop(*keep)
	if *sanitise {
		b.runSanitise(*rounds, *pushOnly)
	} else {
		b.run(*rounds, *pushOnly, *pullOnly)
	}
	if *profile {
		b.profileRuns()
	}
}

// profileRuns runs each envsync measurement once more while the worker
// records a CPU profile as long as its median run, and prints the
// functions it spent most time in (flat, and cumulative for envsync's own).
// The profiles stay in the work directory (-keep) for go tool pprof.
func (b *bench) profileRuns() {
	for _, name := range b.order {
		line, ok := b.lines[name]
		if !ok {
			continue
		}
		var xs []float64
		for _, s := range b.results[name] {
			xs = append(xs, s.secs)
		}
		slices.Sort(xs)
		secs := int(xs[len(xs)/2]) + 1
		file := filepath.Join(b.dir, strings.NewReplacer(" ", "_", ",", "", ":", "", "(", "", ")", "", "/", "_").Replace(name)+".pprof")
		got := make(chan error, 1)
		go func() {
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.pprofAddr, secs))
			if err != nil {
				got <- err
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(file)
			if err == nil {
				_, err = io.Copy(f, resp.Body)
				f.Close()
			}
			got <- err
		}()
		time.Sleep(200 * time.Millisecond) // the profile has started
		cmd := exec.Command("sh", "-c", line)
		cmd.Env = b.env
		if out, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("%s: %v\n%s", name, err, out)
		}
		if err := <-got; err != nil {
			log.Fatalf("profile of %s: %v", name, err)
		}
		for _, how := range []string{"-top", "-top -cum -focus=envsync"} {
			out, err := exec.Command("sh", "-c", fmt.Sprintf("go tool pprof %s -nodecount=18 %s %s", how, b.bin, file)).CombinedOutput()
			if err != nil {
				log.Printf("go tool pprof %s: %v: %s", how, err, out)
				continue
			}
			fmt.Printf("\n### %s: worker CPU profile over %d s (pprof %s)\n\n```\n%s```\n", name, secs, how, out)
		}
	}
}

type bench struct {
	dir, bin, self string
	dev            *exec.Cmd
	pg             *pgserver.Server
	env            []string
	s3URL          string
	procs          []*exec.Cmd
	worker         *exec.Cmd
	dbBytes        int64
	results        map[string][]sample
	order          []string
	// lines are the commands of the measurements of the worker, by name.
	lines     map[string]string
	pprofAddr string
	// pushFloor and pullFloor name the measurements the others are
	// compared with: the database tools alone.
	pushFloor, pullFloor string
	// ratios are (run, baseline) pairs printed as ratios of medians.
	ratios [][2]string
}

type sample struct {
	secs     float64
	cpu      float64            // the whole machine's busy core-seconds meanwhile
	by       map[string]float64 // CPU seconds meanwhile by process group (cpuBy)
	anonPeak int64              // bytes; -1 when not sampled
	tempPeak int64
}

func setup(rows int, workerFlags []string, personal bool) (*bench, error) {
	dir, err := os.MkdirTemp("", "envsync-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{dir: dir, results: map[string][]sample{}, lines: map[string]string{}}
	b.self, _ = os.Executable()
	b.bin = filepath.Join(dir, "envsync")
	log.Printf("building envsync")
	if out, err := exec.Command("go", "build", "-o", b.bin, "./cmd/envsync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build (run from the repository root): %v: %s", err, out)
	}
	log.Printf("starting PostgreSQL")
	if b.pg, err = pgserver.Start(context.Background()); err != nil {
		return nil, err
	}
	s3port := freePort()
	versity, err := testenv.VersityCommand(filepath.Join(dir, "s3"), s3port)
	if err != nil {
		return nil, err
	}
	os.MkdirAll(filepath.Join(dir, "s3"), 0o755)
	if err := b.start(versity); err != nil {
		return nil, err
	}
	b.s3URL = fmt.Sprintf("http://127.0.0.1:%d", s3port)
	waitPort(s3port)
	temporalPort, uiPort := freePort(), freePort()
	b.env = append(os.Environ(), "PGUSER="+b.pg.User, "AWS_ACCESS_KEY_ID="+testenv.S3Key, "AWS_SECRET_ACCESS_KEY="+testenv.S3Secret,
		"AWS_REGION=us-east-1", "ENVSYNC_S3_ENDPOINT="+b.s3URL, "ENVSYNC_HASH_KEY=a-benchmark-key-not-a-secret", fmt.Sprintf("TEMPORAL_ADDRESS=127.0.0.1:%d", temporalPort))
	os.Setenv("AWS_ACCESS_KEY_ID", testenv.S3Key)
	os.Setenv("AWS_SECRET_ACCESS_KEY", testenv.S3Secret)
	if err := b.makeBucket(); err != nil {
		return nil, err
	}
	log.Printf("starting Temporal (envsync dev) and the worker under test")
	dev := exec.Command(b.bin, "dev", "--dir", filepath.Join(dir, "dev"), "--port", strconv.Itoa(temporalPort), "--ui-port", strconv.Itoa(uiPort), "--host", "central")
	b.dev = dev
	if err := b.start(dev); err != nil {
		return nil, err
	}
	waitPort(temporalPort)
	// The port opens before the frontend is healthy, and a worker started
	// then exits at once: wait for a client to get in first.
	waitTemporal(fmt.Sprintf("127.0.0.1:%d", temporalPort))
	b.worker = exec.Command(b.bin, append([]string{"worker", "--host", "bench", "--temp-dir", filepath.Join(dir, "spool"), "--lock-dir", filepath.Join(dir, "locks")}, workerFlags...)...)
	if err := b.start(b.worker); err != nil {
		return nil, err
	}
	log.Printf("generating %d rows", rows)
	gen := fmt.Sprintf(`CREATE TABLE items (id bigint PRIMARY KEY, doc jsonb NOT NULL, body text NOT NULL);
INSERT INTO items SELECT i, jsonb_build_object('n', i, 'name', 'item ' || i, 'tags', jsonb_build_array(md5(i::text), i %% 97), 'price', (i %% 10000) / 100.0),
  repeat(md5(i::text), 2) || ' ' || md5((i * 7)::text) FROM generate_series(1, %d) i;
CREATE INDEX items_name ON items ((doc->>'name'));`, rows)
	if personal {
		// Four personal columns the rules transform, three kept (and
		// scanned); about 300 bytes a row. The addresses do not sort in
		// the order of the rows (a random prefix), as real ones arrive:
		// "person1", "person2", ... would leave the index on them nearly
		// sorted already, which makes its build in a pull without rules
		// a second faster than on any shuffled column, pseudonyms or
		// real addresses alike (docs/benchmarks.md).
		gen = fmt.Sprintf(`CREATE TABLE people (id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL, phone varchar(20), postcode varchar(8),
  created date, notes text);
INSERT INTO people SELECT i, substr(md5('e' || i), 1, 6) || '.person' || i || '@real-person.example', (ARRAY['Olivia','Jack','Amelia','Harry'])[1 + i %% 4] || ' Realname' || (i %% 977),
  '07700 9' || lpad((i %% 100000)::text, 5, '0'), (ARRAY['SW1A 2AA','EH1 1YZ','M1 1AE'])[1 + i %% 3], DATE '2020-01-01' + i %% 1000,
  'account ' || i || ': ' || repeat(md5(i::text), 6) FROM generate_series(1, %d) i;
CREATE INDEX people_email ON people (email);`, rows)
		if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(benchRules), 0o644); err != nil {
			return nil, err
		}
	}
	if err := b.psql("postgres", "CREATE DATABASE bench"); err != nil {
		return nil, err
	}
	if err := b.psql("bench", gen); err != nil {
		return nil, err
	}
	// No autovacuum: it would vacuum and analyze each restored copy (the
	// floor's, a pull's) during the measurement after it, which is then
	// slower for work not its own; the pull measured right after the
	// floor's pg_restore carried that every round. The source is settled
	// once instead (hint bits and visibility map set, statistics taken),
	// so that the first pg_dump does not write them.
	for _, sql := range []string{"ALTER SYSTEM SET autovacuum = off", "SELECT pg_reload_conf()", "VACUUM (FREEZE, ANALYZE)", "CHECKPOINT"} {
		if err := b.psql("bench", sql); err != nil {
			return nil, err
		}
	}
	out, err := b.psqlOut("bench", "SELECT pg_database_size('bench')")
	if err != nil {
		return nil, err
	}
	b.dbBytes, _ = strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	tasks := fmt.Sprintf(`
defaults:
  dbms: %s
  database_hostname: %s
  worker_host: bench
tasks:
  push_s3:       {action: push, database: bench, storagebackend: s3, url: %s, path: spooled}
  push_s3_none:  {action: push, database: bench, storagebackend: s3, url: %s, path: streamed, spool: none}
  push_file:     {action: push, database: bench, storagebackend: file, url: %s, path: pg}
  push_file_nv:  {action: push, database: bench, storagebackend: file, url: %s, path: pg_nv, verify: none}
  push_s3_raw:   {action: push, database: bench, storagebackend: s3, url: %s, path: raw, spool: none, compression: none}
  pull_s3:       {action: pull, database: bench_copy, source_database: bench, storagebackend: s3, url: %s, path: streamed}
  pull_file:     {action: pull, database: bench_copy, source_database: bench, storagebackend: file, url: %s, path: pg}
  pull_file_nv:  {action: pull, database: bench_copy, source_database: bench, storagebackend: file, url: %s, path: pg, verify: none}
  push_bu:       {action: push, database: bench, storagebackend: file, url: %s, path: raw, sanitise: before_upload, sanitised_path: clean, sanitise_rules: %s}
  pull_rules:    {action: pull, database: bench_copy, source_database: bench, storagebackend: file, url: %s, path: pg, sanitise_rules: %s}
`, postgres.Name, b.pg.Addr(), bucket, bucket, filepath.Join(dir, "store"), filepath.Join(dir, "store"), bucket, bucket,
		filepath.Join(dir, "store"), filepath.Join(dir, "store"), filepath.Join(dir, "store"), filepath.Join(dir, "rules.yaml"),
		filepath.Join(dir, "store"), filepath.Join(dir, "rules.yaml"))
	if !personal {
		// The sanitising tasks need the rule set's file; without
		// -sanitise there is none, and the tasks file must load.
		tasks = tasks[:strings.Index(tasks, "  push_bu:")]
	}
	if err := os.WriteFile(filepath.Join(dir, "tasks.yaml"), []byte(tasks), 0o644); err != nil {
		return nil, err
	}
	return b, nil
}

// benchRules transforms four columns of the -sanitise table and keeps
// (and scans) the rest.
const benchRules = `tables:
  people:
    id: keep
    email: email
    name: name
    phone: phone
    postcode: postcode
    created: keep
    notes: keep
`

func (b *bench) start(cmd *exec.Cmd) error {
	if cmd.Env == nil && b.env != nil {
		cmd.Env = b.env
	}
	if cmd.SysProcAttr == nil { // die with the benchmark, even on log.Fatal
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	logf, _ := os.Create(filepath.Join(b.dir, filepath.Base(cmd.Path)+"-"+strconv.Itoa(len(b.procs))+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	b.procs = append(b.procs, cmd)
	return nil
}

func (b *bench) stop(keep bool) {
	for i := len(b.procs) - 1; i >= 0; i-- {
		_ = b.procs[i].Process.Kill()
		_ = b.procs[i].Wait()
	}
	if b.pg != nil {
		b.pg.Stop()
	}
	if keep {
		log.Printf("kept %s", b.dir)
		return
	}
	os.RemoveAll(b.dir)
}

func (b *bench) pgArgs(db string) []string {
	return []string{"-h", b.pg.Host, "-p", strconv.Itoa(b.pg.Port), "-U", b.pg.User, "-d", db}
}

func (b *bench) psql(db, sql string) error {
	_, err := b.psqlOut(db, sql)
	return err
}

func (b *bench) psqlOut(db, sql string) (string, error) {
	cmd := exec.Command(filepath.Join(b.pg.BinDir, "psql"), append(b.pgArgs(db), "-v", "ON_ERROR_STOP=1", "-Atqc", sql)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql: %v: %s", err, out)
	}
	return string(out), nil
}

func (b *bench) makeBucket() error {
	c, err := s3Client(b.s3URL)
	if err != nil {
		return err
	}
	_, err = c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	return err
}

func s3Client(endpoint string) (*s3.Client, error) {
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion("us-east-1"))
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(endpoint); o.UsePathStyle = true }), nil
}

// stage runs one stage of a push alone over a file, as envsync runs it:
// zstd (envsync's writer: default level and goroutines, with the sha256 of
// its output), sha256, age encryption, or the file store's write (to a
// new file, synced).
func stage(name string, args ...string) {
	in, err := os.Open(args[0])
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	switch name {
	case "zstd":
		w, err := dump.NewWriter(io.Discard, dump.Zstd, 0)
		if err == nil {
			_, err = w.ReadFrom(in)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			log.Fatal(err)
		}
	case "sha256":
		h := sha256.New()
		if _, err := io.Copy(h, in); err != nil {
			log.Fatal(err)
		}
	case "age":
		id, err := age.GenerateX25519Identity()
		if err != nil {
			log.Fatal(err)
		}
		w, err := age.Encrypt(io.Discard, id.Recipient())
		if err == nil {
			_, err = io.Copy(w, in)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			log.Fatal(err)
		}
	case "write":
		out, err := os.Create(args[1])
		if err == nil {
			_, err = io.Copy(out, in)
		}
		if err == nil {
			err = out.Sync()
		}
		if err == nil {
			err = out.Close()
		}
		if err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("no stage %q", name)
	}
}

// upload streams stdin to S3 with the AWS SDK's own uploader, as `aws s3
// cp - s3://...` does: the other half of a shell pipe.
func upload(endpoint, key string) {
	c, err := s3Client(endpoint)
	if err != nil {
		log.Fatal(err)
	}
	up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 16 << 20; u.Concurrency = 4 })
	if _, err := up.Upload(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: struct{ io.Reader }{os.Stdin}}); err != nil {
		log.Fatal(err)
	}
}

// measure runs cmd (a shell line) and records its wall time, the worker's
// peak anonymous memory and the spool directory's peak size meanwhile.
func (b *bench) measure(name, line string, watchWorker bool) {
	if !slices.Contains(b.order, name) {
		b.order = append(b.order, name)
	}
	if watchWorker {
		b.lines[name] = line
	}
	var anonPeak, tempPeak atomic.Int64
	anonPeak.Store(-1)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if watchWorker {
				if a := anonRSS(b.worker.Process.Pid); a > anonPeak.Load() {
					anonPeak.Store(a)
				}
			}
			if s := dirSize(filepath.Join(b.dir, "spool")); s > tempPeak.Load() {
				tempPeak.Store(s)
			}
		}
	}()
	// Each measurement starts on a quiet machine: what the one before
	// wrote (a store's objects, a spool, the server's buffers) is flushed
	// to disk first, so its writeback does not land on this one's time.
	// Floors and envsync alike.
	if err := b.psql("postgres", "CHECKPOINT"); err != nil {
		log.Fatalf("before %s: %v", name, err)
	}
	syscall.Sync()
	time.Sleep(500 * time.Millisecond)
	cmd := exec.Command("sh", "-c", line)
	cmd.Env = b.env
	busy, by := busyCPU(), b.cpuBy()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	secs := time.Since(start).Seconds()
	cpu := busyCPU() - busy
	for g, v := range b.cpuBy() {
		by[g] = v - by[g]
	}
	close(done)
	if err != nil {
		log.Fatalf("%s: %v\n%s", name, err, out)
	}
	b.results[name] = append(b.results[name], sample{secs: secs, cpu: cpu, by: by, anonPeak: anonPeak.Load(), tempPeak: tempPeak.Load()})
	if f, err := os.OpenFile(filepath.Join(b.dir, "commands.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintf(f, "== %s (%.1fs)\n%s\n", name, secs, out)
		f.Close()
	}
	log.Printf("%-34s %6.1fs %6.1f core-s (%s)", name, secs, cpu, groupLine(by))
}

func (b *bench) run(rounds int, pushOnly, pullOnly bool) {
	pg := func(tool string) string { return filepath.Join(b.pg.BinDir, tool) }
	conn := fmt.Sprintf("-h %s -p %d -U %s", b.pg.Host, b.pg.Port, b.pg.User)
	archive := filepath.Join(b.dir, "bench.Z0.dump")
	tasks := filepath.Join(b.dir, "tasks.yaml")
	envsync := func(args string) string { return b.bin + " " + args + " --tasks " + tasks }
	if out, err := exec.Command("sh", "-c", fmt.Sprintf("%s -Fc -Z0 %s -d bench > %s", pg("pg_dump"), conn, archive)).CombinedOutput(); err != nil {
		log.Fatalf("pg_dump: %v: %s", err, out)
	}
	b.pushFloor, b.pullFloor = "pg_dump -Fc -Z0 > /dev/null (push floor)", "pg_restore of a local file (pull floor)"
	// The stages of a push alone, over the same bytes: the -Z0 archive,
	// and its zstd compression for the stages after compression.
	compressed := archive + ".zst"
	if out, err := exec.Command("sh", "-c", fmt.Sprintf("zstd -q -f -T0 -3 %s -o %s", archive, compressed)).CombinedOutput(); err != nil {
		log.Fatalf("zstd (apt-get install zstd): %v: %s", err, out)
	}
	stageLine := func(name string, args ...string) string {
		return b.self + " stage " + name + " " + strings.Join(args, " ")
	}
	if pullOnly {
		// The dumps the pulls restore, pushed once.
		for _, task := range []string{"push_s3_none", "push_file"} {
			cmd := exec.Command("sh", "-c", envsync("push --task "+task))
			cmd.Env = b.env
			if out, err := cmd.CombinedOutput(); err != nil {
				log.Fatalf("%s: %v: %s", task, err, out)
			}
		}
	}
	for r := 1; r <= rounds; r++ {
		log.Printf("round %d of %d", r, rounds)
		if pullOnly {
			b.pulls(r, pg, conn, archive, envsync)
			continue
		}
		b.measure("pg_dump -Fc -Z0 > /dev/null (push floor)", fmt.Sprintf("%s -Fc -Z0 %s -d bench > /dev/null", pg("pg_dump"), conn), false)
		b.measure("stage: read the archive (page cache)", "cat "+archive+" > /dev/null", false)
		b.measure("stage: zstd + sha256 of its output", stageLine("zstd", archive), false)
		b.measure("stage: sha256 of the archive", stageLine("sha256", archive), false)
		b.measure("stage: age encryption of the zstd dump", stageLine("age", compressed), false)
		b.measure("stage: file store write of the zstd dump", stageLine("write", compressed, filepath.Join(b.dir, "stage.out")), false)
		b.measure("stage: S3 upload of the zstd dump", fmt.Sprintf("%s upload %s stage/%d.zst < %s", b.self, b.s3URL, r, compressed), false)
		b.measure("pg_dump -Fc -Z1 | S3 upload", fmt.Sprintf("%s -Fc -Z1 %s -d bench | %s upload %s pipe/%d.dump", pg("pg_dump"), conn, b.self, b.s3URL, r), false)
		b.measure("envsync push, s3 (spool: disk)", envsync("push --task push_s3"), true)
		b.measure("envsync push, s3 (spool: none)", envsync("push --task push_s3_none"), true)
		// What verify: counts costs: the same push without counting, and
		// the extra read alone (count(*) of every table).
		inTurn(r, func() { b.measure("envsync push, file store", envsync("push --task push_file"), true) },
			func() {
				b.measure("envsync push, file store, verify: none", envsync("push --task push_file_nv"), true)
			})
		b.measure("count(*) of every table (what counting reads)", fmt.Sprintf("%s %s -d bench -c 'SELECT count(*) FROM items'", pg("psql"), conn), false)
		b.measure("envsync push, s3, compression: none", envsync("push --task push_s3_raw"), true)
		if !pushOnly {
			b.pulls(r, pg, conn, archive, envsync)
		}
	}
	b.report(rounds)
}

// inTurn runs a and b, b first in even rounds: the counted and uncounted
// runs of the same work, so neither always comes second. In the first runs
// the uncounted pull, always measured last, was the faster in 9 of 13
// rounds though both do the same work (a PostgreSQL pull takes its counts
// from the server's replies).
func inTurn(round int, a, b func()) {
	if round%2 == 0 {
		a, b = b, a
	}
	a()
	b()
}

// pulls measures the pull floor and envsync's pulls, once (round r).
func (b *bench) pulls(r int, pg func(string) string, conn, archive string, envsync func(string) string) {
	b.measure("pg_restore of a local file (pull floor)", fmt.Sprintf("%s %s -d postgres -c 'DROP DATABASE IF EXISTS floor' -c 'CREATE DATABASE floor' && %s --exit-on-error %s -d floor %s",
		pg("psql"), conn, pg("pg_restore"), conn, archive), false)
	b.measure("envsync pull, s3", envsync("pull --task pull_s3"), true)
	inTurn(r, func() { b.measure("envsync pull, file store", envsync("pull --task pull_file"), true) },
		func() { b.measure("envsync pull, file store, verify: none", envsync("pull --task pull_file_nv"), true) })
}

func (b *bench) report(rounds int) {
	median := func(xs []float64) float64 {
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	of := func(name string, f func(sample) float64) float64 {
		var xs []float64
		for _, s := range b.results[name] {
			xs = append(xs, f(s))
		}
		return median(xs)
	}
	secs := func(s sample) float64 { return s.secs }
	pushFloor := 1.0
	if len(b.results[b.pushFloor]) > 0 {
		pushFloor = of(b.pushFloor, secs)
	}
	pullFloor := 1.0
	if len(b.results[b.pullFloor]) > 0 {
		pullFloor = of(b.pullFloor, secs)
	}
	fmt.Printf("\ndatabase %s on disk, medians of %d rounds, 2 cores\n\n", human(b.dbBytes), rounds)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "| run\t| wall\t| vs floor\t| machine CPU\t| worker anon RSS peak\t| temp disk peak\t|")
	fmt.Fprintln(w, "| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t|")
	for _, name := range b.order {
		floor := pushFloor
		if strings.Contains(name, "pull") {
			floor = pullFloor
		}
		rss := "-"
		if a := of(name, func(s sample) float64 { return float64(s.anonPeak) }); a >= 0 {
			rss = human(int64(a))
		}
		fmt.Fprintf(w, "| %s\t| %.1f s\t| %.2f\t| %.1f core-s\t| %s\t| %s\t|\n", name, of(name, secs), of(name, secs)/floor,
			of(name, func(s sample) float64 { return s.cpu }), rss,
			human(int64(of(name, func(s sample) float64 { return float64(s.tempPeak) }))))
	}
	w.Flush()
	fmt.Printf("\nwhere the CPU went (core-seconds, medians by group)\n\n")
	w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "| run\t| %s\t|\n| ---\t|%s\n", strings.Join(cpuGroups, "\t| "), strings.Repeat(" ---\t|", len(cpuGroups)))
	for _, name := range b.order {
		fmt.Fprintf(w, "| %s\t", name)
		for _, g := range cpuGroups {
			fmt.Fprintf(w, "| %.1f\t", of(name, func(s sample) float64 { return s.by[g] }))
		}
		fmt.Fprintln(w, "|")
	}
	w.Flush()
	for _, r := range b.ratios {
		fmt.Printf("%s / %s: %.2f (medians)\n", r[0], r[1], of(r[0], secs)/of(r[1], secs))
	}
}

// runSanitise measures what sanitising costs, in the same run: a pull
// through rules transforming four columns (in the stream) against the same
// pull without rules, and a before_upload push (the dump sanitised as it
// is taken) against a plain push, with the database tools alone as floors.
func (b *bench) runSanitise(rounds int, pushOnly bool) {
	pg := func(tool string) string { return filepath.Join(b.pg.BinDir, tool) }
	conn := fmt.Sprintf("-h %s -p %d -U %s", b.pg.Host, b.pg.Port, b.pg.User)
	archive := filepath.Join(b.dir, "bench.Z0.dump")
	tasks := filepath.Join(b.dir, "tasks.yaml")
	envsync := func(args string) string { return b.bin + " " + args + " --tasks " + tasks }
	if out, err := exec.Command("sh", "-c", fmt.Sprintf("%s -Fc -Z0 %s -d bench > %s", pg("pg_dump"), conn, archive)).CombinedOutput(); err != nil {
		log.Fatalf("pg_dump: %v: %s", err, out)
	}
	const (
		pushPlain = "envsync push, file store"
		pushBU    = "envsync push, before_upload (4 columns)"
		pullPlain = "envsync pull, file store, no rules"
		pullRules = "envsync pull, file store, 4 columns transformed"
	)
	b.pushFloor, b.pullFloor = "pg_dump -Fc -Z0 > /dev/null (push floor)", "pg_restore of a local file (pull floor)"
	b.ratios = [][2]string{{pullRules, pullPlain}, {pushBU, pushPlain}}
	if pushOnly {
		b.ratios = b.ratios[1:]
	}
	for r := 1; r <= rounds; r++ {
		log.Printf("round %d of %d", r, rounds)
		b.measure(b.pushFloor, fmt.Sprintf("%s -Fc -Z0 %s -d bench > /dev/null", pg("pg_dump"), conn), false)
		b.measure(pushPlain, envsync("push --task push_file"), true)
		b.measure(pushBU, envsync("push --task push_bu"), true)
		if pushOnly {
			continue
		}
		b.measure(b.pullFloor, fmt.Sprintf("%s %s -d postgres -c 'DROP DATABASE IF EXISTS floor' -c 'CREATE DATABASE floor' && %s --exit-on-error %s -d floor %s",
			pg("psql"), conn, pg("pg_restore"), conn, archive), false)
		b.measure(pullPlain, envsync("pull --task pull_file"), true)
		b.measure(pullRules, envsync("pull --task pull_rules"), true)
	}
	b.report(rounds)
}

// busyCPU is the core-seconds this machine has spent busy since boot
// (/proc/stat: user, nice, system, irq and softirq; not idle, I/O wait or
// time the hypervisor stole): what a run costs the whole host, every
// process of it, which on two shared cores decides its wall time.
func busyCPU() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var ticks float64
	for _, i := range []int{1, 2, 3, 6, 7} {
		if i < len(f) {
			v, _ := strconv.ParseFloat(f[i], 64)
			ticks += v
		}
	}
	return ticks / 100 // USER_HZ
}

// cpuGroups are the processes cpuBy tells apart, in the order printed.
var cpuGroups = []string{"postgres", "worker", "worker's tools", "command", "versitygw", "temporal", "other"}

// cpuBy is the CPU seconds (user and system) every process on the machine
// has used, by group: the PostgreSQL server (all its processes, and the
// backends that have exited), the worker itself, the tools it ran
// (pg_restore, pg_dump: its reaped children), the measured command (the
// envsync CLI, or a floor's tools: this program's reaped children),
// versitygw, the Temporal dev server and the rest. A difference of two is
// what each used in between.
func (b *bench) cpuBy() map[string]float64 {
	out := map[string]float64{}
	for _, g := range cpuGroups {
		out[g] = 0
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		open, end := strings.IndexByte(string(data), '('), strings.LastIndexByte(string(data), ')')
		if open < 0 || end < open {
			continue
		}
		comm := string(data[open+1 : end])
		f := strings.Fields(string(data[end+1:])) // from the state, field 3
		if len(f) < 15 {
			continue
		}
		t := func(i int) float64 { v, _ := strconv.ParseFloat(f[i-3], 64); return v / 100 }
		own, reaped := t(14)+t(15), t(16)+t(17)
		switch {
		case b.worker != nil && pid == b.worker.Process.Pid:
			out["worker"] += own
			out["worker's tools"] += reaped
		case pid == os.Getpid():
			out["command"] += reaped
		case b.dev != nil && pid == b.dev.Process.Pid:
			out["temporal"] += own + reaped
		case comm == "postgres":
			out["postgres"] += own + reaped
		case comm == "pg_restore" || comm == "pg_dump":
			out["worker's tools"] += own + reaped
		case comm == "versitygw":
			out["versitygw"] += own + reaped
		default:
			out["other"] += own + reaped
		}
	}
	return out
}

func groupLine(by map[string]float64) string {
	var parts []string
	for _, g := range cpuGroups {
		if v := by[g]; v >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.1f", g, v))
		}
	}
	return strings.Join(parts, ", ")
}

func anonRSS(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d B", n)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitTemporal waits until the Temporal frontend at addr answers a
// client's health check.
func waitTemporal(addr string) {
	var err error
	for i := 0; i < 600; i++ {
		var c client.Client
		if c, err = client.Dial(client.Options{HostPort: addr, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))}); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatalf("Temporal at %s is not healthy after a minute: %v", addr, err)
}

func waitPort(port int) {
	for i := 0; i < 600; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatalf("nothing listens on port %d after a minute", port)
}
