// Package postgres dumps with pg_dump (custom format) and restores with
// pg_restore into a staging database that is renamed over the live one only
// once it is complete. Admin statements go through pgx. Connection settings
// other than host and port (user, password, sslmode, passfile) come from
// libpq's usual environment on the worker host: PGUSER, PGPASSFILE, ...
package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

// MaxName is PostgreSQL's identifier limit in bytes.
const MaxName = 63

// Options tune the engine on one worker host.
type Options struct {
	// BinDir holds pg_dump and pg_restore; empty picks
	// /usr/lib/postgresql/<server major>/bin when present, else $PATH.
	BinDir string
	// MaintenanceDB is where admin statements run; default "postgres".
	MaintenanceDB string
	Logger        *slog.Logger
	// DumpPriority is pg_dump's CPU and I/O priority.
	DumpPriority engine.Priority
	// Count asks Dump to count the rows it dumps (engine.Spec.Count).
	Count bool
	// CopyLanes is how many connections a restore loads one large table
	// over (lanes.go): 0 or 1 leaves restores without sanitising to
	// pg_restore, one connection a table.
	CopyLanes int
}

// Engine is one database on one server.
type Engine struct {
	t    engine.Target
	opts Options
	// loaded is what the last restore's loader counted (Loaded); nil when
	// pg_restore loaded the server itself.
	loaded map[string]int64
	// laneNote says which tables that loader spread over several
	// connections, for the run's notes.
	laneNote string
}

// New returns the engine for target.
func New(t engine.Target, o Options) *Engine {
	if o.MaintenanceDB == "" {
		o.MaintenanceDB = "postgres"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Engine{t: t, opts: o}
}

var _ engine.Engine = (*Engine)(nil)

func (e *Engine) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	// ParseConfig("") reads libpq's environment (PGHOST, PGUSER,
	// PGPASSFILE, PGSSLMODE, ...), so the worker authenticates exactly as
	// psql would on this host.
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, fmt.Errorf("postgresql: read connection settings from the environment: %w", err)
	}
	if e.t.Host != "" {
		cfg.Host = e.t.Host
	}
	if e.t.Port != 0 {
		cfg.Port = uint16(e.t.Port)
	}
	cfg.Database = db
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name: retrying will not create it
		return nil, engine.Permanent(fmt.Errorf("postgresql: database %s does not exist on %s", db, e.where()))
	}
	if err != nil {
		return nil, fmt.Errorf("postgresql: connect to database %s on %s: %w (check PGUSER/PGPASSFILE on this worker)", db, e.where(), err)
	}
	return conn, nil
}

func (e *Engine) where() string {
	switch {
	case e.t.Host == "":
		return "the default server"
	case e.t.Port == 0:
		return e.t.Host
	}
	return e.t.Host + ":" + strconv.Itoa(e.t.Port)
}

// toolEnv is the environment of pg_dump/pg_restore: the worker's own (for
// credentials), with host and port pinned to the target, and the archive
// read and written 1 MiB at a time (engine.BufferStdio).
func (e *Engine) toolEnv() []string {
	env := engine.BufferStdio(os.Environ())
	if e.t.Host != "" {
		env = append(env, "PGHOST="+e.t.Host)
	}
	if e.t.Port != 0 {
		env = append(env, "PGPORT="+strconv.Itoa(e.t.Port))
	}
	return append(env, "PGCONNECT_TIMEOUT=30")
}

var versionRe = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// tool finds pg_dump or pg_restore and refuses one older than the server:
// an old pg_dump cannot read a newer server's catalogs, an old pg_restore
// may not read a newer archive.
func (e *Engine) tool(ctx context.Context, name string, serverMajor int) (string, error) {
	var path string
	switch {
	case e.opts.BinDir != "":
		path = filepath.Join(e.opts.BinDir, name)
	default:
		path = fmt.Sprintf("/usr/lib/postgresql/%d/bin/%s", serverMajor, name)
		if _, err := os.Stat(path); err != nil {
			if path, err = exec.LookPath(name); err != nil {
				return "", engine.Permanent(fmt.Errorf("postgresql: %s not found; install postgresql-client-%d on this worker", name, serverMajor))
			}
		}
	}
	major, err := toolMajor(ctx, path)
	if err != nil {
		return "", err
	}
	if major < serverMajor {
		return "", engine.Permanent(fmt.Errorf("postgresql: %s is version %d but the server is %d; install postgresql-client-%d on this worker or point it at a newer bin directory",
			path, major, serverMajor, serverMajor))
	}
	return path, nil
}

// toolMajors remembers the major version of each tool binary asked, by
// path, size and modification time: running `--version` took about 30 ms
// of every push and pull, and a binary an upgrade replaced is asked again.
var toolMajors sync.Map // toolKey -> int

type toolKey struct {
	path     string
	size     int64
	modified time.Time
}

// toolMajor is the major version the tool at path reports.
func toolMajor(ctx context.Context, path string) (int, error) {
	var key toolKey
	if fi, err := os.Stat(path); err == nil {
		key = toolKey{path, fi.Size(), fi.ModTime()}
		if major, ok := toolMajors.Load(key); ok {
			return major.(int), nil
		}
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return 0, engine.Permanent(fmt.Errorf("postgresql: run %s --version: %w", path, err))
	}
	m := versionRe.FindSubmatch(out)
	if m == nil {
		return 0, engine.Permanent(fmt.Errorf("postgresql: cannot read the version of %s from %q", path, strings.TrimSpace(string(out))))
	}
	major, _ := strconv.Atoi(string(m[1]))
	if key.path != "" {
		toolMajors.Store(key, major)
	}
	return major, nil
}

func serverVersion(ctx context.Context, conn *pgx.Conn) (string, int, error) {
	var version string
	var num int
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('server_version_num')::int`).Scan(&version, &num); err != nil {
		return "", 0, fmt.Errorf("postgresql: read server version: %w", err)
	}
	return version, num / 10000, nil
}

// Dump runs pg_dump in custom format, uncompressed: the stream is
// compressed once, by envsync, so its checksum describes the stored bytes.
func (e *Engine) Dump(ctx context.Context, w io.Writer) (engine.DumpInfo, error) {
	return e.dump(ctx, w, nil, nil)
}

// DumpPlan dumps the database as plain SQL (a custom archive's rows are
// compressed blocks no stream can rewrite), its rows sanitised by plan on
// the way to w: only the sanitised dump leaves the host, and the database
// is read once: the rows are counted as the sanitiser passes them (the
// plan's per-table rows; the push takes off what it filtered). A pull of
// it loads it in one stream: restore_jobs cannot apply.
func (e *Engine) DumpPlan(ctx context.Context, w io.Writer, plan *sanitise.Plan) (engine.DumpInfo, error) {
	var tables []string
	info, err := engine.DumpThrough("postgresql", w,
		func(w io.Writer) (engine.DumpInfo, error) {
			return e.dump(ctx, w, []string{"--format=plain"}, &tables)
		},
		func(r io.Reader, w io.Writer) error { return newSanitiser(plan, w).run(r) })
	if err == nil && tables != nil {
		rep := plan.Report()
		counts := make(map[string]int64, len(tables))
		for _, t := range tables {
			if r := rep.Tables[t]; r != nil {
				counts[t] = r.Rows
			} else {
				counts[t] = 0 // no COPY block: the dump holds no rows of it
			}
		}
		info.Counts = exactCounts(counts)
	}
	return info, err
}

// dump runs pg_dump into w, as a custom archive unless format says
// otherwise. With streamed, the caller counts the rows as they pass: dump
// only lists the tables of the snapshot there.
func (e *Engine) dump(ctx context.Context, w io.Writer, format []string, streamed *[]string) (engine.DumpInfo, error) {
	conn, err := e.connect(ctx, e.t.Database)
	if err != nil {
		return engine.DumpInfo{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	version, major, err := serverVersion(ctx, conn)
	var src dbInfo
	if err == nil {
		src, err = lookup(ctx, conn, e.t.Database)
	}
	if err != nil {
		return engine.DumpInfo{}, err
	}
	pgDump, err := e.tool(ctx, "pg_dump", major)
	if err != nil {
		return engine.DumpInfo{}, err
	}
	info := engine.DumpInfo{ServerVersion: version, Format: "pg_dump-custom", Origin: dump.Origin{Owner: src.owner}}
	args := []string{"--format=custom", "--compress=0", "--no-password", "--dbname=" + e.t.Database}
	if len(format) > 0 {
		info.Format = "pg_dump-plain"
		args = append(format, "--no-password", "--dbname="+e.t.Database)
	}
	// Counting: pg_dump reads the snapshot this connection exported. A
	// custom archive's rows are counted as they pass (countThrough), a
	// sanitised plain dump's by its sanitiser (streamed), so the tables
	// are read once; any other plain dump's are counted in the same
	// snapshot meanwhile. The transaction stays open until pg_dump is
	// done, so pg_dump can always import it.
	var snap *snapshot
	if e.opts.Count {
		if snap, err = exportSnapshot(ctx, conn); err != nil {
			return engine.DumpInfo{}, err
		}
		defer snap.tx.Rollback(context.WithoutCancel(ctx))
		args = append(args, "--snapshot="+snap.id)
	}
	stderr := &engine.Tail{}
	cmd := exec.CommandContext(ctx, pgDump, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = e.toolEnv(), w, stderr
	var counts map[string]int64
	switch {
	case snap != nil && len(format) == 0:
		counts, err = e.dumpCounting(ctx, cmd, snap, w)
	case snap != nil && streamed != nil:
		var tables [][2]string
		if tables, err = listTables(ctx, snap.tx); err != nil {
			return engine.DumpInfo{}, err
		}
		*streamed = []string{}
		for _, t := range tables {
			*streamed = append(*streamed, t[0]+"."+t[1])
		}
		err = e.opts.DumpPriority.Run(cmd)
	case snap != nil:
		cctx, stopCounting := context.WithCancel(ctx)
		counted := snap.count(cctx)
		err = e.opts.DumpPriority.Run(cmd)
		if err != nil {
			stopCounting()
		}
		// Wait even then: the connection is the counter's until it
		// returns, and is closed after.
		c := <-counted
		stopCounting()
		if err == nil && c.err != nil {
			return engine.DumpInfo{}, c.err
		}
		counts = c.tables
	default:
		err = e.opts.DumpPriority.Run(cmd)
	}
	if err != nil {
		return engine.DumpInfo{}, fmt.Errorf("postgresql: pg_dump of %s failed: %w: %s", e.t.Database, err, stderr)
	}
	if snap != nil && streamed == nil {
		info.Counts = exactCounts(counts)
	}
	return info, nil
}

// dumpCounting runs pg_dump (cmd, its output w) with the archive passing
// through countThrough, and returns the rows of the tables the snapshot
// lists (an extension's configuration tables, which pg_dump also writes,
// are not counted on restore either). If the archive cannot be read the
// dump is still good: the tables are counted in its snapshot instead.
func (e *Engine) dumpCounting(ctx context.Context, cmd *exec.Cmd, snap *snapshot, w io.Writer) (map[string]int64, error) {
	tables, err := listTables(ctx, snap.tx)
	if err != nil {
		return nil, err
	}
	pr, pw, err := engine.Pipe()
	if err != nil {
		return nil, err
	}
	type result struct {
		counts     map[string]int64
		cerr, werr error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.counts, r.cerr, r.werr = countThrough(dump.Gather(pr), w)
		pr.Close() // pg_dump, if still writing, fails and stops
		done <- r
	}()
	cmd.Stdout = pw
	err = e.opts.DumpPriority.Run(cmd)
	pw.Close()
	r := <-done
	if r.werr != nil {
		return nil, r.werr // the upload's failure, not the broken pipe
	}
	if err != nil {
		return nil, err
	}
	if r.cerr != nil {
		e.opts.Logger.Warn("could not count rows in the archive as it passed; counting the tables in the dump's snapshot instead", "database", e.t.Database, "error", r.cerr)
		return countTables(ctx, snap.tx)
	}
	counts := make(map[string]int64, len(tables))
	for _, t := range tables {
		name := t[0] + "." + t[1]
		counts[name] = r.counts[name] // none in the archive: the dump holds none
	}
	return counts, nil
}

type dbInfo struct {
	exists                bool
	owner, encoding       string
	collate, ctype, label string
	aclSet                bool
}

func lookup(ctx context.Context, conn *pgx.Conn, name string) (dbInfo, error) {
	var d dbInfo
	var label *string
	err := conn.QueryRow(ctx, `
		SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
		       shobj_description(d.oid, 'pg_database'), d.datacl IS NOT NULL
		FROM pg_database d WHERE d.datname = $1`, name).Scan(&d.owner, &d.encoding, &d.collate, &d.ctype, &label, &d.aclSet)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, nil
	}
	if err != nil {
		return d, fmt.Errorf("postgresql: look up database %s: %w", name, err)
	}
	d.exists = true
	if label != nil {
		d.label = *label
	}
	return d, nil
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// literal quotes a string constant (standard_conforming_strings is on by
// default since 9.1, so only quotes need doubling).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (e *Engine) checkLive() error {
	switch e.t.Database {
	case "postgres", "template0", "template1", e.opts.MaintenanceDB:
		return engine.Permanent(fmt.Errorf("postgresql: %s is a system database and cannot be the target of a pull", e.t.Database))
	}
	return nil
}

// adminFor checks that staging and the live name are safe to work on and
// connects to the maintenance database.
func (e *Engine) adminFor(ctx context.Context, staging string) (*pgx.Conn, error) {
	if err := engine.CheckStaging("postgresql", staging); err != nil {
		return nil, err
	}
	if err := e.checkLive(); err != nil {
		return nil, err
	}
	return e.connect(ctx, e.opts.MaintenanceDB)
}

// Size is the database's size on disk, the total of a dump's progress
// (the dump itself is smaller: indexes are only their definitions).
func (e *Engine) Size(ctx context.Context) (int64, error) {
	conn, err := e.connect(ctx, e.t.Database)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	err = conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
	return n, err
}

// RestoreFile restores a custom-format archive file with jobs parallel
// pg_restore jobs, into a staging database created as Restore does.
func (e *Engine) RestoreFile(ctx context.Context, path, staging string, origin dump.Origin, jobs int) ([]string, error) {
	return e.restore(ctx, nil, path, staging, origin, jobs, nil)
}

// Restore creates staging (same owner, encoding and locale as the live
// database when it exists, else the source's owner when that role exists
// here) and runs pg_restore into it, stopping at the first error: no list
// of "expected" errors, a restore either is complete or fails.
func (e *Engine) Restore(ctx context.Context, r io.Reader, staging string, origin dump.Origin) ([]string, error) {
	return e.restore(ctx, r, "", staging, origin, 1, nil)
}

// RestorePlan restores a dump into staging through a sanitise plan: the
// archive as pg_restore writes it out as SQL (or a plain dump as it is),
// its rows transformed and filtered on the way to the server, so no original
// value of a transformed column reaches the server.
func (e *Engine) RestorePlan(ctx context.Context, r io.Reader, staging string, origin dump.Origin, plan *sanitise.Plan) ([]string, error) {
	return e.restore(ctx, r, "", staging, origin, 1, plan)
}

// restore runs pg_restore on r, or on the archive at path with jobs
// parallel jobs; with a plan, through it (restoreText).
func (e *Engine) restore(ctx context.Context, r io.Reader, path, staging string, origin dump.Origin, jobs int, plan *sanitise.Plan) ([]string, error) {
	e.loaded, e.laneNote = nil, "" // of this restore's loader only
	admin, err := e.adminFor(ctx, staging)
	if err != nil {
		return nil, err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	_, major, err := serverVersion(ctx, admin)
	if err != nil {
		return nil, err
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(staging)+" WITH (FORCE)"); err != nil {
		return nil, fmt.Errorf("postgresql: drop leftover staging database %s: %w", staging, err)
	}
	notes, err := e.createStaging(ctx, admin, staging, origin)
	if err != nil {
		return nil, err
	}
	if path != "" && !isArchive(path) {
		// A sanitised dump is plain SQL: pg_restore cannot read it, so
		// restore_jobs cannot apply; it loads in one stream.
		notes = append(notes, "the dump is plain SQL (sanitised before upload): loaded in one stream, restore_jobs does not apply")
		f, ferr := os.Open(path)
		if ferr != nil {
			return nil, ferr
		}
		err = e.restoreText(ctx, bufio.NewReaderSize(f, 1<<20), staging, major, false, nil)
		f.Close()
	} else if path != "" {
		err = e.pgRestore(ctx, nil, path, staging, major, jobs)
	} else {
		// A custom archive starts with PGDMP; anything else is a plain
		// SQL dump (a sanitised one), loaded as it is.
		br := bufio.NewReaderSize(r, 1<<20)
		head, _ := br.Peek(5)
		// Without a plan the loader still takes an archive when it may
		// spread large tables over several connections, which
		// pg_restore cannot do from a stream.
		if archive := string(head) == "PGDMP"; plan != nil || !archive || e.opts.CopyLanes > 1 {
			err = e.restoreText(ctx, br, staging, major, archive, plan)
		} else {
			err = e.pgRestore(ctx, br, "", staging, major, 1)
		}
	}
	if err == nil && e.laneNote != "" {
		notes = append(notes, e.laneNote)
	}
	if err != nil {
		if _, derr := admin.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+ident(staging)+" WITH (FORCE)"); derr != nil {
			e.opts.Logger.Warn("could not drop staging database after failed restore", "staging", staging, "error", derr)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("postgresql: restore of %s stopped: %w; the live database is untouched", e.t.Database, ctx.Err())
		}
		return nil, err
	}
	return notes, nil
}

var _ engine.LoadCounter = (*Engine)(nil)

// Loaded is the rows per table the server took in the last restore, from
// its replies to each COPY: nil unless envsync's loader ran it (a
// sanitised pull, a plain dump), not pg_restore.
func (e *Engine) Loaded() map[string]int64 { return e.loaded }

// isArchive says whether the file at path is a custom-format archive
// (it starts with PGDMP), which pg_restore reads.
func isArchive(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true // pg_restore names the problem
	}
	defer f.Close()
	head := make([]byte, 5)
	_, err = io.ReadFull(f, head)
	return err != nil || string(head) == "PGDMP"
}

// pgRestore restores a custom archive (from r, or the file at path with
// jobs parallel jobs) with pg_restore, which stops at the first error.
func (e *Engine) pgRestore(ctx context.Context, r io.Reader, path, staging string, major, jobs int) error {
	pgRestore, err := e.tool(ctx, "pg_restore", major)
	if err != nil {
		return err
	}
	stderr := &engine.Tail{}
	args := []string{"--exit-on-error", "--no-password", "--dbname=" + staging}
	if path != "" {
		args = append(args, "--jobs="+strconv.Itoa(jobs), "--", path)
	}
	cmd := exec.CommandContext(ctx, pgRestore, args...)
	cmd.Env, cmd.Stdin, cmd.Stderr = e.toolEnv(), r, stderr
	if err := cmd.Run(); err != nil {
		return engine.Permanent(fmt.Errorf("postgresql: pg_restore into %s failed: %w: %s; the live database %s is untouched",
			staging, err, stderr, e.t.Database))
	}
	return nil
}

// restoreText loads SQL into the staging database over one connection
// (loader): a plain dump as it is, a custom archive as pg_restore -f -
// writes it out; with a plan, the rows go through it on the way.
func (e *Engine) restoreText(ctx context.Context, r io.Reader, staging string, major int, archive bool, plan *sanitise.Plan) error {
	outer := ctx // ours is cancelled to stop pg_restore when loading fails
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src, toSQL, toSQLErr := r, (*exec.Cmd)(nil), &engine.Tail{}
	if archive {
		pgRestore, err := e.tool(ctx, "pg_restore", major)
		if err != nil {
			return err
		}
		out, in, err := engine.Pipe()
		if err != nil {
			return err
		}
		defer out.Close()
		toSQL = exec.CommandContext(ctx, pgRestore, "--file=-")
		toSQL.Env, toSQL.Stdin, toSQL.Stdout, toSQL.Stderr = e.toolEnv(), r, in, toSQLErr
		err = toSQL.Start()
		in.Close() // pg_restore's now
		if err != nil {
			return fmt.Errorf("postgresql: start pg_restore: %w", err)
		}
		src = out
	}
	conn, err := e.connect(ctx, staging)
	if err != nil {
		if toSQL != nil {
			cancel()
			_ = toSQL.Wait()
		}
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	l := newLoader(ctx, conn.PgConn()).withLanes(e.opts.CopyLanes, func() (*pgconn.PgConn, error) {
		c, err := e.connect(ctx, staging)
		if err != nil {
			return nil, err
		}
		return c.PgConn(), nil
	})
	var runErr, closeErr error
	if plan != nil {
		runErr = newSanitiser(plan, l).run(src)
	} else {
		// In large reads: pg_restore writes 4 KiB at a time and io.Copy
		// reads 32 KiB, a wake-up of one or the other for each.
		_, runErr = dump.CopyPipe(l, src)
	}
	serverErr := l.err // the server's own failure, before Abort records runErr
	if runErr == nil {
		if closeErr = l.Close(); closeErr == nil {
			e.loaded, e.laneNote = l.loaded, l.laneNote()
		}
	} else {
		l.Abort(runErr)
	}
	var terr error
	if toSQL != nil {
		if runErr != nil {
			cancel() // pg_restore need not write out what nobody loads
		}
		_, _ = io.Copy(io.Discard, src)
		terr = toSQL.Wait()
	}
	var pe *sanitise.PlanError
	untouched := "; the live database " + e.t.Database + " is untouched"
	switch {
	case errors.As(runErr, &pe):
		return engine.Permanent(fmt.Errorf("postgresql: %w; nothing was swapped in%s", runErr, untouched))
	case runErr != nil && runErr == serverErr && outer.Err() == nil:
		return engine.Permanent(fmt.Errorf("postgresql: restore into %s failed: %s%s", staging, engine.Redact(runErr.Error()), untouched))
	case runErr != nil:
		return runErr
	case terr != nil && outer.Err() == nil:
		// pg_restore failed on its own (a damaged archive): its error is
		// the cause of whatever the loader made of the short stream.
		return engine.Permanent(fmt.Errorf("postgresql: pg_restore of the archive failed: %w: %s%s", terr, toSQLErr, untouched))
	case closeErr != nil && outer.Err() == nil:
		return engine.Permanent(fmt.Errorf("postgresql: restore into %s failed: %s%s", staging, engine.Redact(closeErr.Error()), untouched))
	case outer.Err() != nil:
		return outer.Err()
	}
	return nil
}

// createStaging creates the staging database. With a live database it
// copies that one's owner, encoding and locale, which belong to this
// environment. Without one (a first pull into this server) the objects
// inside the dump belong to the source's owner, so the database should
// too: it gets that owner if the role exists here and the worker may hand
// databases to it, else the worker's own role, and a note says so.
func (e *Engine) createStaging(ctx context.Context, admin *pgx.Conn, staging string, origin dump.Origin) ([]string, error) {
	live, err := lookup(ctx, admin, e.t.Database)
	if err != nil {
		return nil, err
	}
	create := "CREATE DATABASE " + ident(staging) + " TEMPLATE template0"
	if live.exists {
		create += fmt.Sprintf(" OWNER %s ENCODING %s LC_COLLATE %s LC_CTYPE %s",
			ident(live.owner), literal(live.encoding), literal(live.collate), literal(live.ctype))
		if _, err := admin.Exec(ctx, create); err != nil {
			return nil, fmt.Errorf("postgresql: create staging database %s: %w (the worker's role needs CREATEDB and membership of the owner role %s)", staging, err, live.owner)
		}
		return nil, nil
	}
	var me string
	if err := admin.QueryRow(ctx, "SELECT current_user").Scan(&me); err != nil {
		return nil, fmt.Errorf("postgresql: read the worker's role: %w", err)
	}
	exists := false
	if owner := origin.Owner; owner != "" && owner != me {
		if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", owner).Scan(&exists); err != nil {
			return nil, fmt.Errorf("postgresql: look up role %s: %w", owner, err)
		}
	}
	var fallback string
	switch owner := origin.Owner; {
	case owner == "" || owner == me:
	case !exists:
		fallback = fmt.Sprintf("the source's owner role %s does not exist on this server", owner)
	default:
		_, err := admin.Exec(ctx, create+" OWNER "+ident(owner))
		var pgErr *pgconn.PgError
		if err == nil {
			return nil, nil
		} else if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
			return nil, fmt.Errorf("postgresql: create staging database %s owned by %s: %w", staging, owner, err)
		}
		fallback = fmt.Sprintf("the worker's role %s may not create databases owned by %s (grant it membership of %s)", me, owner, owner)
	}
	if _, err := admin.Exec(ctx, create); err != nil {
		return nil, fmt.Errorf("postgresql: create staging database %s: %w (the worker's role needs CREATEDB)", staging, err)
	}
	if fallback == "" {
		return nil, nil
	}
	return []string{fmt.Sprintf("database %s is new on this server and owned by %s: %s", e.t.Database, me, fallback)}, nil
}

// oldName is where the live database is moved during a swap: derived from
// staging, so a retried swap finds it again.
func oldName(staging string) string { return engine.StagingName(staging, "old", MaxName) }

// Swap renames the live database aside and staging into its place in one
// transaction, after blocking and ending other sessions; then carries the
// old database's owner, grants and settings over and drops it. Each stage
// checks what is already done, so a retry after a lost reply completes
// instead of failing.
func (e *Engine) Swap(ctx context.Context, staging, label string) error {
	admin, err := e.adminFor(ctx, staging)
	if err != nil {
		return err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	old := oldName(staging)

	st, err := lookup(ctx, admin, staging)
	if err != nil {
		return err
	}
	if st.exists {
		if err := e.rename(ctx, admin, staging, old, label); err != nil {
			return err
		}
	} else {
		live, err := lookup(ctx, admin, e.t.Database)
		if err != nil {
			return err
		}
		if !live.exists || live.label != label {
			return engine.Permanent(fmt.Errorf("postgresql: staging database %s is gone and %s was not restored by this run; start the pull again", staging, e.t.Database))
		}
	}
	prev, err := lookup(ctx, admin, old)
	if err != nil || !prev.exists {
		return err // first pull into this server: nothing to carry over
	}
	if err := e.carryOver(ctx, admin, old, prev); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(old)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("postgresql: the new %s is live, but dropping the previous copy %s failed: %w; drop it by hand", e.t.Database, old, err)
	}
	return nil
}

func (e *Engine) rename(ctx context.Context, admin *pgx.Conn, staging, old, label string) error {
	live, err := lookup(ctx, admin, e.t.Database)
	if err != nil {
		return err
	}
	if live.exists {
		// Block new sessions first so terminated clients cannot reconnect
		// between the terminate and the rename.
		if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident(e.t.Database)+" WITH ALLOW_CONNECTIONS false"); err != nil {
			return fmt.Errorf("postgresql: block connections to %s: %w", e.t.Database, err)
		}
	}
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = ANY($1) AND pid <> pg_backend_pid()`, []string{e.t.Database, staging}); err != nil {
			lastErr = fmt.Errorf("end sessions: %w", err)
			break
		}
		lastErr = pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "COMMENT ON DATABASE "+ident(staging)+" IS "+literal(label)); err != nil {
				return err
			}
			if live.exists {
				if _, err := tx.Exec(ctx, "ALTER DATABASE "+ident(e.t.Database)+" RENAME TO "+ident(old)); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, "ALTER DATABASE "+ident(staging)+" RENAME TO "+ident(e.t.Database))
			return err
		})
		var pgErr *pgconn.PgError
		if lastErr == nil || !errors.As(lastErr, &pgErr) || pgErr.Code != "55006" { // 55006: object in use
			break
		}
		time.Sleep(200 * time.Millisecond) // a session was still closing
	}
	if lastErr != nil {
		if live.exists {
			if _, err := admin.Exec(context.WithoutCancel(ctx), "ALTER DATABASE "+ident(e.t.Database)+" WITH ALLOW_CONNECTIONS true"); err != nil {
				e.opts.Logger.Error("could not re-allow connections after a failed swap", "database", e.t.Database, "error", err)
			}
		}
		return fmt.Errorf("postgresql: swap %s into %s failed: %w; the live database is unchanged", staging, e.t.Database, lastErr)
	}
	return nil
}

// listSettings are GUCs whose stored value is already a quoted list and
// must be written back as it is (as pg_dump does).
var listSettings = map[string]bool{"search_path": true, "temp_tablespaces": true,
	"session_preload_libraries": true, "shared_preload_libraries": true, "local_preload_libraries": true}

// carryOver applies the previous database's owner, database-level grants
// and settings to the new one: those belong to the target environment, not
// to the dump.
func (e *Engine) carryOver(ctx context.Context, admin *pgx.Conn, old string, prev dbInfo) error {
	db := ident(e.t.Database)
	stmts := []string{"ALTER DATABASE " + db + " OWNER TO " + ident(prev.owner)}
	if prev.aclSet {
		stmts = append(stmts, "REVOKE ALL ON DATABASE "+db+" FROM PUBLIC")
		rows, err := admin.Query(ctx, `
			SELECT coalesce(r.rolname, ''), a.privilege_type, a.is_grantable
			FROM pg_database d, aclexplode(d.datacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
			WHERE d.datname = $1 AND a.grantee <> d.datdba`, old)
		if err != nil {
			return fmt.Errorf("postgresql: read grants of %s: %w", old, err)
		}
		for rows.Next() {
			var role, priv string
			var grantable bool
			if err := rows.Scan(&role, &priv, &grantable); err != nil {
				return err
			}
			to := "PUBLIC"
			if role != "" {
				to = ident(role)
			}
			s := "GRANT " + priv + " ON DATABASE " + db + " TO " + to
			if grantable {
				s += " WITH GRANT OPTION"
			}
			stmts = append(stmts, s)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgresql: read grants of %s: %w", old, err)
		}
	}
	rows, err := admin.Query(ctx, `
		SELECT coalesce(r.rolname, ''), s.setconfig
		FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole
		WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = $1)`, old)
	if err != nil {
		return fmt.Errorf("postgresql: read settings of %s: %w", old, err)
	}
	for rows.Next() {
		var role string
		var config []string
		if err := rows.Scan(&role, &config); err != nil {
			return err
		}
		for _, c := range config {
			name, value, _ := strings.Cut(c, "=")
			if !listSettings[name] {
				value = literal(value)
			}
			prefix := "ALTER DATABASE " + db
			if role != "" {
				prefix = "ALTER ROLE " + ident(role) + " IN DATABASE " + db
			}
			stmts = append(stmts, prefix+" SET "+ident(name)+" = "+value)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgresql: read settings of %s: %w", old, err)
	}
	for _, s := range stmts {
		if _, err := admin.Exec(ctx, s); err != nil {
			return fmt.Errorf("postgresql: the new %s is live, but carrying over %q failed: %w", e.t.Database, s, err)
		}
	}
	return nil
}

// Drop removes a staging database, ending any session on it.
func (e *Engine) Drop(ctx context.Context, staging string) error {
	if err := engine.CheckStaging("postgresql", staging); err != nil {
		return err
	}
	admin, err := e.connect(ctx, e.opts.MaintenanceDB)
	if err != nil {
		return err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(staging)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("postgresql: drop staging database %s: %w", staging, err)
	}
	return nil
}
