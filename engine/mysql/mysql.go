// Package mysql dumps MySQL/MariaDB with mysqldump and restores with the
// mysql client into a staging schema; the swap moves every table in one
// atomic RENAME TABLE, then recreates views, routines, events and triggers
// in the live schema. Tables absent from the dump do not survive (the
// original restored over the live schema, so they did).
//
// Credentials are the worker's: $MYSQL_USER (default: the worker's OS user,
// as the mysql client does) and $MYSQL_PWD, which both the Go driver here and
// the client tools read.
package mysql

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

// MaxName is MySQL's identifier limit.
const MaxName = 64

// Options tune the engine on one worker host.
type Options struct {
	// BinDir holds mysqldump and mysql; empty: $PATH.
	BinDir string
	Logger *slog.Logger
	// DumpPriority is mysqldump's CPU and I/O priority.
	DumpPriority engine.Priority
	// Count asks Dump to count the rows it dumps (engine.Spec.Count).
	Count bool
}

// Engine is one schema on one server.
type Engine struct {
	t        engine.Target
	excluded []string
	opts     Options
}

// New returns the engine for target; excluded tables are left out of dumps.
func New(t engine.Target, excluded []string, o Options) *Engine {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Engine{t: t, excluded: excluded, opts: o}
}

var _ engine.Engine = (*Engine)(nil)

func userName() string {
	if u := os.Getenv("MYSQL_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

func (e *Engine) open(db string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = userName(), os.Getenv("MYSQL_PWD"), db
	cfg.Timeout = 30 * time.Second
	switch {
	case strings.HasPrefix(e.t.Host, "/"):
		cfg.Net, cfg.Addr = "unix", e.t.Host
	case e.t.Host == "":
		cfg.Net, cfg.Addr = "unix", "/run/mysqld/mysqld.sock"
	default:
		port := e.t.Port
		if port == 0 {
			port = 3306
		}
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(e.t.Host, strconv.Itoa(port))
	}
	conn, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(1) // one session: USE and session settings stick
	return conn, nil
}

func (e *Engine) connect(ctx context.Context, db string) (*sql.DB, error) {
	conn, err := e.open(db)
	if err == nil {
		err = conn.PingContext(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("mysql: connect to %q on %s: %w (check MYSQL_USER/MYSQL_PWD on this worker)", db, e.where(), err)
	}
	return conn, nil
}

func (e *Engine) where() string {
	if e.t.Host == "" {
		return "the local socket"
	}
	if e.t.Port == 0 {
		return e.t.Host
	}
	return net.JoinHostPort(e.t.Host, strconv.Itoa(e.t.Port))
}

// toolArgs are the connection flags of mysqldump and mysql.
func (e *Engine) toolArgs() []string {
	args := []string{"--user=" + userName(), "--default-character-set=utf8mb4"}
	switch {
	case strings.HasPrefix(e.t.Host, "/"):
		args = append(args, "--socket="+e.t.Host)
	case e.t.Host != "":
		args = append(args, "--protocol=tcp", "--host="+e.t.Host)
		if e.t.Port != 0 {
			args = append(args, "--port="+strconv.Itoa(e.t.Port))
		}
	}
	return args
}

func (e *Engine) tool(name string) (string, error) {
	if e.opts.BinDir != "" {
		return filepath.Join(e.opts.BinDir, name), nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", engine.Permanent(fmt.Errorf("mysql: %s not found; install mariadb-client (or mysql-client) on this worker", name))
	}
	return p, nil
}

// ident quotes a MySQL identifier.
func ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func literal(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// Dump runs mysqldump in one consistent snapshot (--single-transaction),
// streaming rows (--quick), with routines, triggers and events, leaving out
// the excluded tables.
func (e *Engine) Dump(ctx context.Context, w io.Writer) (engine.DumpInfo, error) {
	return e.dump(ctx, w)
}

// DumpPlan dumps the schema with the rows of every INSERT sanitised by
// plan on the way to w: only the sanitised dump leaves the host, and the
// database is read once.
func (e *Engine) DumpPlan(ctx context.Context, w io.Writer, plan *sanitise.Plan) (engine.DumpInfo, error) {
	return engine.DumpThrough("mysql", w,
		func(w io.Writer) (engine.DumpInfo, error) { return e.dump(ctx, w) },
		func(r io.Reader, w io.Writer) error { return newSanitiser(plan, w).run(r) })
}

func (e *Engine) dump(ctx context.Context, w io.Writer) (engine.DumpInfo, error) {
	conn, err := e.connect(ctx, e.t.Database)
	if err != nil {
		return engine.DumpInfo{}, err
	}
	var version string
	var origin dump.Origin
	err = conn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version)
	if err == nil {
		origin.Charset, origin.Collation, err = schemaCharset(ctx, conn, e.t.Database)
	}
	conn.Close()
	if err != nil {
		return engine.DumpInfo{}, fmt.Errorf("mysql: read server version and character set: %w", err)
	}
	bin, err := e.tool("mysqldump")
	if err != nil {
		return engine.DumpInfo{}, err
	}
	// Rows as INSERT INTO `t` VALUES, whatever a my.cnf [mysqldump]
	// says: the row counter and the sanitisers read that form only.
	args := append(e.toolArgs(), "--single-transaction", "--quick", "--routines", "--triggers", "--events",
		"--hex-blob", "--skip-dump-date", "--no-tablespaces", "--skip-insert-ignore", "--skip-replace")
	for _, t := range e.excluded {
		args = append(args, "--ignore-table="+e.t.Database+"."+t)
	}
	args = append(args, "--", e.t.Database)
	info := engine.DumpInfo{ServerVersion: version, Format: "mysqldump-sql", Origin: origin}
	// Counting: the rows are counted as mysqldump writes them (its
	// INSERT tuples), so they are the dump's own, with no second read.
	var rc *rowCounter
	if e.opts.Count {
		rc = newRowCounter(w)
		w = rc
	}
	stderr := &engine.Tail{}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = engine.BufferStdio(nil), w, stderr
	if err := e.opts.DumpPriority.Run(cmd); err != nil {
		return engine.DumpInfo{}, fmt.Errorf("mysql: mysqldump of %s failed: %w: %s", e.t.Database, err, stderr)
	}
	if rc != nil {
		counts, err := rc.result()
		if err == nil {
			err = e.dropUndumped(ctx, counts)
		}
		info.Counts = &dump.Counts{Of: "table", Exact: true, Tables: counts}
		if err != nil {
			// The dump is good; only its counts cannot be the dump's own.
			e.opts.Logger.Warn("could not count the rows of mysqldump's output as it passed; counting the tables after the dump instead", "database", e.t.Database, "error", err)
			if info.Counts, err = e.countAfter(ctx, err); err != nil {
				return engine.DumpInfo{}, err
			}
		}
	}
	return info, nil
}

// dropUndumped leaves out of counts the tables whose rows mysqldump does
// not write, as they live elsewhere (MERGE, FEDERATED): the dump holds none
// of them, but a restored MERGE table counts its underlying tables' rows.
func (e *Engine) dropUndumped(ctx context.Context, counts map[string]int64) error {
	db, err := e.connect(ctx, e.t.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND UPPER(ENGINE) IN ('MRG_MYISAM', 'FEDERATED')`, e.t.Database)
	if err != nil {
		return fmt.Errorf("mysql: list the tables whose rows mysqldump leaves out: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		delete(counts, n)
	}
	return rows.Err()
}

// countAfter counts the tables once the dump is done, for a dump whose
// rows could not be counted as they passed (why): the counts may differ
// from the dump's by the writes made since, so they are not exact.
func (e *Engine) countAfter(ctx context.Context, why error) (*dump.Counts, error) {
	db, err := e.connect(ctx, e.t.Database)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tables, _, err := countTables(ctx, db, e.t.Database, e.excluded)
	if err != nil {
		return nil, err
	}
	return &dump.Counts{Of: "table", Tables: tables,
		Note: "counted after mysqldump, not in its output (" + why.Error() + "): writes since can differ"}, nil
}

func (e *Engine) checkLive() error {
	switch strings.ToLower(e.t.Database) {
	case "mysql", "information_schema", "performance_schema", "sys":
		return engine.Permanent(fmt.Errorf("mysql: %s is a system schema and cannot be the target of a pull", e.t.Database))
	}
	return nil
}

func schemaExists(ctx context.Context, conn *sql.DB, name string) (bool, string, error) {
	var comment sql.NullString
	err := conn.QueryRowContext(ctx, `SELECT COALESCE(SCHEMA_COMMENT, '') FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, name).Scan(&comment)
	if errors.Is(err, sql.ErrNoRows) {
		return false, "", nil
	}
	if err != nil {
		// MySQL has no SCHEMA_COMMENT: ask again without it.
		var n int
		if err2 := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, name).Scan(&n); err2 != nil {
			return false, "", fmt.Errorf("mysql: look up schema %s: %w", name, err)
		}
		return n == 1, "", nil
	}
	return true, comment.String, nil
}

// adminFor checks that staging and the live name are safe to work on and
// connects without a default schema.
func (e *Engine) adminFor(ctx context.Context, staging string) (*sql.DB, error) {
	if err := engine.CheckStaging("mysql", staging); err != nil {
		return nil, err
	}
	if err := e.checkLive(); err != nil {
		return nil, err
	}
	return e.connect(ctx, "")
}

// Size is the schema's data and index size, the total of a dump's
// progress.
func (e *Engine) Size(ctx context.Context) (int64, error) {
	conn, err := e.connect(ctx, "")
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n sql.NullInt64
	err = conn.QueryRowContext(ctx, `SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`, e.t.Database).Scan(&n)
	return n.Int64, err
}

func schemaCharset(ctx context.Context, conn *sql.DB, schema string) (cs, coll string, err error) {
	err = conn.QueryRowContext(ctx, `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`,
		schema).Scan(&cs, &coll)
	return cs, coll, err
}

// charset is the CHARACTER SET ... COLLATE ... clause that gives a new
// schema the character set and collation of schema.
func charset(ctx context.Context, conn *sql.DB, schema string) (string, error) {
	cs, coll, err := schemaCharset(ctx, conn, schema)
	if err != nil {
		return "", err
	}
	return charsetClause(cs, coll), nil
}

// Character set and collation names are identifiers MySQL does not quote
// in this clause; the manifest's values are used only when they are names.
var charsetName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func charsetClause(cs, coll string) string {
	return " CHARACTER SET " + cs + " COLLATE " + coll
}

// stagingCharset is the character set clause of a new staging schema: the
// live schema's, which belongs to this environment; without a live schema
// the source's, from the manifest, when this server has that collation;
// else the server's default, and a note says so.
func (e *Engine) stagingCharset(ctx context.Context, admin *sql.DB, origin dump.Origin) (string, []string, error) {
	cs, err := charset(ctx, admin, e.t.Database)
	switch {
	case err == nil:
		return cs, nil, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", nil, fmt.Errorf("mysql: read the character set of %s: %w", e.t.Database, err)
	case origin.Charset == "" || origin.Collation == "":
		return "", nil, nil // a dump from before manifests recorded it
	}
	var n int
	if err := admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLLATIONS WHERE COLLATION_NAME = ? AND CHARACTER_SET_NAME = ?`,
		origin.Collation, origin.Charset).Scan(&n); err != nil {
		return "", nil, fmt.Errorf("mysql: look up collation %s: %w", origin.Collation, err)
	}
	if n == 1 && charsetName.MatchString(origin.Charset) && charsetName.MatchString(origin.Collation) {
		return charsetClause(origin.Charset, origin.Collation), nil, nil
	}
	var defCS, defColl string
	if err := admin.QueryRowContext(ctx, "SELECT @@character_set_server, @@collation_server").Scan(&defCS, &defColl); err != nil {
		return "", nil, fmt.Errorf("mysql: read the server's default character set: %w", err)
	}
	return "", []string{fmt.Sprintf("schema %s is new on this server and uses its default character set %s (%s): the source's %s (%s) is not available here",
		e.t.Database, defCS, defColl, origin.Charset, origin.Collation)}, nil
}

// Restore creates the staging schema (the live schema's character set and
// collation when it exists, else the source's) and feeds the dump to the
// mysql client, which stops at the first error.
func (e *Engine) Restore(ctx context.Context, r io.Reader, staging string, origin dump.Origin) ([]string, error) {
	return e.restore(ctx, r, staging, origin, nil)
}

// RestorePlan is Restore with the rows of every INSERT sanitised by plan
// on their way to the mysql client, so no original value of a transformed
// column reaches the server.
func (e *Engine) RestorePlan(ctx context.Context, r io.Reader, staging string, origin dump.Origin, plan *sanitise.Plan) ([]string, error) {
	return e.restore(ctx, r, staging, origin, plan)
}

func (e *Engine) restore(ctx context.Context, r io.Reader, staging string, origin dump.Origin, plan *sanitise.Plan) ([]string, error) {
	admin, err := e.adminFor(ctx, staging)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	bin, err := e.tool("mysql")
	if err != nil {
		return nil, err
	}
	cs, notes, err := e.stagingCharset(ctx, admin, origin)
	if err != nil {
		return nil, err
	}
	create := "CREATE DATABASE " + ident(staging) + cs
	for _, s := range []string{"DROP DATABASE IF EXISTS " + ident(staging), create} {
		if _, err := admin.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("mysql: %s: %w", s, err)
		}
	}
	if err := e.load(ctx, bin, r, staging, plan); err != nil {
		if _, derr := admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+ident(staging)); derr != nil {
			e.opts.Logger.Warn("could not drop staging schema after failed restore", "staging", staging, "error", derr)
		}
		return nil, err
	}
	return notes, nil
}

// load feeds the dump (through plan, when there is one) to the mysql
// client, which stops at the first error.
func (e *Engine) load(ctx context.Context, bin string, r io.Reader, staging string, plan *sanitise.Plan) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stderr := &engine.Tail{}
	cmd := exec.CommandContext(ctx, bin, append(e.toolArgs(), "--batch", "--database="+staging)...)
	cmd.Stderr = stderr
	var serr error
	if plan == nil {
		cmd.Stdin = newUnnamedAlters(r)
		serr = cmd.Run()
	} else {
		werr, cerr := engine.Feed(cmd, cancel, func(w io.Writer) error { return newSanitiser(plan, w).run(newUnnamedAlters(r)) })
		serr = cmp.Or(werr, cerr)
	}
	var pe *sanitise.PlanError
	switch {
	case serr == nil:
		return nil
	case errors.As(serr, &pe):
		return engine.Permanent(fmt.Errorf("mysql: %w; nothing was swapped in, the live schema %s is untouched", serr, e.t.Database))
	case ctx.Err() != nil:
		return fmt.Errorf("mysql: restore of %s stopped: %w; the live schema is untouched", e.t.Database, ctx.Err())
	}
	return engine.Permanent(fmt.Errorf("mysql: restore into %s failed: %w: %s; the live schema %s is untouched",
		staging, serr, engine.Redact(stderr.String()), e.t.Database))
}

// Drop removes a staging schema.
func (e *Engine) Drop(ctx context.Context, staging string) error {
	if err := engine.CheckStaging("mysql", staging); err != nil {
		return err
	}
	admin, err := e.connect(ctx, "")
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident(staging)); err != nil {
		return fmt.Errorf("mysql: drop staging schema %s: %w", staging, err)
	}
	return nil
}
