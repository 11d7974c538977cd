// Package mongo dumps and restores MongoDB databases with the Go driver:
// every collection's documents as raw BSON, with its options and indexes,
// and views, in one streamed archive (docs/mongo-archive.md).
//
// A restore writes each collection under a staging name in the live
// database; the swap renames each over its live collection (atomically with
// dropTarget where the server has it, else drop-then-rename), recreates the
// views and drops collections the dump does not have. Pushes run only on a
// replica set's primary and pulls only where writable; elsewhere the run is
// skipped, not failed.
//
// Credentials are the worker's: $MONGO_USERNAME, $MONGO_PASSWORD and
// $MONGO_AUTHSOURCE (default admin).
package mongo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

// MaxName bounds staging prefixes.
const MaxName = 64

// Options tune the engine.
type Options struct {
	Logger *slog.Logger
	// Count asks Dump to record the documents it dumped per collection
	// (engine.Spec.Count).
	Count bool
}

// Engine is one database on one server.
type Engine struct {
	t    engine.Target
	opts Options
}

// New returns the engine for target.
func New(t engine.Target, o Options) *Engine {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Engine{t: t, opts: o}
}

var (
	_ engine.Engine      = (*Engine)(nil)
	_ engine.Preflighter = (*Engine)(nil)
)

func (e *Engine) where() string {
	host := e.t.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := e.t.Port
	if port == 0 {
		port = 27017
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func (e *Engine) connect(ctx context.Context) (*mongo.Client, error) {
	o := options.Client().ApplyURI("mongodb://" + e.where() + "/?directConnection=true").
		SetConnectTimeout(30 * time.Second).SetServerSelectionTimeout(30 * time.Second)
	if u := os.Getenv("MONGO_USERNAME"); u != "" {
		src := os.Getenv("MONGO_AUTHSOURCE")
		if src == "" {
			src = "admin"
		}
		o.SetAuth(options.Credential{Username: u, Password: os.Getenv("MONGO_PASSWORD"), AuthSource: src})
	}
	c, err := mongo.Connect(ctx, o)
	if err == nil {
		err = c.Ping(ctx, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: connect to %s: %w (check MONGO_USERNAME/MONGO_PASSWORD on this worker)", e.where(), err)
	}
	return c, nil
}

// Preflight asks the server what it is: a push runs only on a replica
// set's primary (or a standalone server), a pull only where writable.
func (e *Engine) Preflight(ctx context.Context, action string) (string, error) {
	c, err := e.connect(ctx)
	if err != nil {
		return "", err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	var hello struct {
		IsWritablePrimary bool   `bson:"isWritablePrimary"`
		IsMaster          bool   `bson:"ismaster"`
		SetName           string `bson:"setName"`
		Primary           string `bson:"primary"`
	}
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "isMaster", Value: 1}}).Decode(&hello); err != nil {
			return "", fmt.Errorf("mongo: ask %s whether it is primary: %w", e.where(), err)
		}
	}
	writable := hello.IsWritablePrimary || hello.IsMaster
	switch {
	case writable:
		return "", nil
	case action == "push":
		return fmt.Sprintf("%s is not the primary of replica set %s (the primary is %s); the push runs there", e.where(), hello.SetName, hello.Primary), nil
	default:
		return fmt.Sprintf("%s is not writable (replica set %s, primary %s); the pull runs there", e.where(), hello.SetName, hello.Primary), nil
	}
}

func serverVersion(ctx context.Context, c *mongo.Client) string {
	var info struct {
		Version string `bson:"version"`
	}
	_ = c.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info)
	return info.Version
}

func userCollection(name string) bool {
	return !strings.HasPrefix(name, "system.") && !strings.HasPrefix(name, "envsync.") && !strings.Contains(name, engine.StagingMarker)
}

// Dump writes the archive: header, each collection with its documents,
// the views, and a trailer with counts.
func (e *Engine) Dump(ctx context.Context, w io.Writer) (engine.DumpInfo, error) {
	c, err := e.connect(ctx)
	if err != nil {
		return engine.DumpInfo{}, err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	version := serverVersion(ctx, c)
	db := c.Database(e.t.Database)
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		return engine.DumpInfo{}, fmt.Errorf("mongo: list collections of %s: %w", e.t.Database, err)
	}
	aw := newArchiveWriter(w)
	if err := aw.doc(recHeader, header{Format: ArchiveFormat, Database: e.t.Database, ServerVersion: version}); err != nil {
		return engine.DumpInfo{}, err
	}
	var tr trailer
	dumped := map[string]int64{}
	for _, s := range specs {
		if s.Type != "collection" || !userCollection(s.Name) {
			continue
		}
		dumped[s.Name] = 0
		indexes, err := indexSpecs(ctx, db.Collection(s.Name))
		if err != nil {
			return engine.DumpInfo{}, err
		}
		if err := aw.doc(recCollection, collectionRec{Name: s.Name, Options: s.Options, Indexes: indexes}); err != nil {
			return engine.DumpInfo{}, err
		}
		tr.Collections++
		cur, err := db.Collection(s.Name).Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
		if err != nil {
			return engine.DumpInfo{}, fmt.Errorf("mongo: read %s.%s: %w", e.t.Database, s.Name, err)
		}
		for cur.Next(ctx) {
			if err := aw.raw(recDocument, cur.Current); err != nil {
				cur.Close(ctx)
				return engine.DumpInfo{}, err
			}
			tr.Documents++
			dumped[s.Name]++
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return engine.DumpInfo{}, fmt.Errorf("mongo: read %s.%s: %w", e.t.Database, s.Name, err)
		}
	}
	for _, s := range specs {
		if s.Type == "view" && userCollection(s.Name) {
			if err := aw.doc(recView, collectionRec{Name: s.Name, Options: s.Options}); err != nil {
				return engine.DumpInfo{}, err
			}
			tr.Views++
		}
	}
	if err := aw.doc(recEnd, tr); err != nil {
		return engine.DumpInfo{}, err
	}
	if err := aw.flush(); err != nil {
		return engine.DumpInfo{}, err
	}
	info := engine.DumpInfo{ServerVersion: version, Format: ArchiveFormat}
	if e.opts.Count {
		info.Counts = &dump.Counts{Of: "collection", Exact: true, Tables: dumped, Note: notPointInTime}
	}
	return info, nil
}

// notPointInTime is the manifest's caveat: the counts are what the archive
// holds (so a restore must hold exactly as many), but MongoDB has no
// snapshot across collections, so a write made during the dump may be in
// one collection and not another.
const notPointInTime = "counted as dumped, collection by collection; not a point-in-time snapshot of the source"

var _ engine.Counter = (*Engine)(nil)

// Count counts the documents of every collection of the staging copy
// staging (the collections Restore staged in the live database), by the
// names they had in the dump.
func (e *Engine) Count(ctx context.Context, staging string) (map[string]int64, error) {
	if err := engine.CheckStaging("mongo", staging); err != nil {
		return nil, err
	}
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	db := c.Database(e.t.Database)
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("mongo: list collections of %s: %w", e.t.Database, err)
	}
	out := map[string]int64{}
	for _, n := range names {
		coll, ok := strings.CutPrefix(n, staging+"-")
		if !ok || n == metaName(staging) {
			continue
		}
		count, err := db.Collection(n).CountDocuments(ctx, bson.D{})
		if err != nil {
			return nil, fmt.Errorf("mongo: count the documents of %s.%s: %w", e.t.Database, n, err)
		}
		out[coll] = count
	}
	return out, nil
}

func indexSpecs(ctx context.Context, coll *mongo.Collection) ([]bson.D, error) {
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("mongo: list indexes of %s: %w", coll.Name(), err)
	}
	defer cur.Close(ctx)
	var out []bson.D
	for cur.Next(ctx) {
		var spec bson.D
		if err := bson.Unmarshal(cur.Current, &spec); err != nil {
			return nil, err
		}
		var keep bson.D
		skip := false
		for _, f := range spec {
			switch f.Key {
			case "v", "ns":
			case "name":
				skip = f.Value == "_id_"
				keep = append(keep, f)
			default:
				keep = append(keep, f)
			}
		}
		if !skip {
			out = append(out, keep)
		}
	}
	return out, cur.Err()
}

// stagedName is a collection's name while staged. No dot: FerretDB cannot
// rename collections whose names hold one.
func stagedName(staging, coll string) string { return staging + "-" + coll }

// meta holds what the swap needs besides the staged collections: the
// dump's collection names and views.
func metaName(staging string) string { return staging + "-~meta" }

// Restore reads the archive into staged collections of the live database,
// checking the trailer's counts; on any error the staged collections are
// dropped and the live ones were never touched.
// The origin is not needed: collection options and indexes travel in the archive.
func (e *Engine) Restore(ctx context.Context, r io.Reader, staging string, _ dump.Origin) ([]string, error) {
	return nil, e.restore(ctx, r, staging, nil)
}

// RestorePlan is Restore with every document's fields sanitised by plan on
// their way to the server.
func (e *Engine) RestorePlan(ctx context.Context, r io.Reader, staging string, _ dump.Origin, plan *sanitise.Plan) ([]string, error) {
	return nil, e.restore(ctx, r, staging, plan)
}

// restore is Restore without the unused origin, with a plan or none.
func (e *Engine) restore(ctx context.Context, r io.Reader, staging string, plan *sanitise.Plan) error {
	if err := engine.CheckStaging("mongo", staging); err != nil {
		return err
	}
	c, err := e.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	db := c.Database(e.t.Database)
	if err := dropStaged(ctx, db, staging); err != nil {
		return err
	}
	if err := e.load(ctx, db, newArchiveReader(r), staging, plan); err != nil {
		if derr := dropStaged(context.WithoutCancel(ctx), db, staging); derr != nil {
			e.opts.Logger.Warn("could not drop staged collections after a failed restore", "staging", staging, "error", derr)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("mongo: restore of %s stopped: %w; the live collections are untouched", e.t.Database, ctx.Err())
		}
		var pe *sanitise.PlanError
		if errors.As(err, &pe) {
			return engine.Permanent(fmt.Errorf("mongo: %w; nothing was swapped in, the live collections of %s are untouched", err, e.t.Database))
		}
		return engine.Permanent(fmt.Errorf("mongo: restore into %s failed: %s; the live collections of %s are untouched", staging, engine.Redact(err.Error()), e.t.Database))
	}
	return nil
}

type metaDoc struct {
	ID          string          `bson:"_id"`
	Collections []string        `bson:"collections"`
	Views       []collectionRec `bson:"views"`
}

func (e *Engine) load(ctx context.Context, db *mongo.Database, ar *archiveReader, staging string, plan *sanitise.Plan) error {
	t, raw, err := ar.next()
	if err != nil {
		return err
	}
	var h header
	if t != recHeader || bson.Unmarshal(raw, &h) != nil || h.Format != ArchiveFormat {
		return fmt.Errorf("not an %s stream", ArchiveFormat)
	}
	var (
		meta    = metaDoc{ID: "meta"}
		seen    trailer
		current *mongo.Collection
		rows    *sanitise.TableRows
		batch   []any
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := current.InsertMany(ctx, batch, options.InsertMany().SetOrdered(true))
		batch = batch[:0]
		if err != nil {
			return fmt.Errorf("insert into %s: %w", current.Name(), err)
		}
		return nil
	}
	for {
		t, raw, err := ar.next()
		if err != nil {
			return err
		}
		switch t {
		case recCollection:
			if err := flush(); err != nil {
				return err
			}
			var cr collectionRec
			if err := bson.Unmarshal(raw, &cr); err != nil {
				return err
			}
			name := stagedName(staging, cr.Name)
			cmd := bson.D{{Key: "create", Value: name}}
			if len(cr.Options) > 0 {
				var opts bson.D
				if err := bson.Unmarshal(cr.Options, &opts); err != nil {
					return err
				}
				cmd = append(cmd, opts...)
			}
			if err := db.RunCommand(ctx, cmd).Err(); err != nil {
				return fmt.Errorf("create collection %s: %w", cr.Name, err)
			}
			current = db.Collection(name)
			if len(cr.Indexes) > 0 {
				idx := make(bson.A, len(cr.Indexes))
				for i, spec := range cr.Indexes {
					idx[i] = spec
				}
				if err := db.RunCommand(ctx, bson.D{{Key: "createIndexes", Value: name}, {Key: "indexes", Value: idx}}).Err(); err != nil {
					return fmt.Errorf("create indexes of %s: %w", cr.Name, err)
				}
			}
			meta.Collections = append(meta.Collections, cr.Name)
			seen.Collections++
			if plan != nil {
				rows = plan.Table(cr.Name, nil)
			}
		case recDocument:
			if current == nil {
				return errors.New("archive has a document before any collection")
			}
			seen.Documents++
			if rows != nil {
				doc, keep, err := sanitiseDoc(rows, raw)
				if err != nil {
					return err
				}
				if !keep {
					continue
				}
				raw = doc
			}
			batch = append(batch, raw)
			if len(batch) == 1000 {
				if err := flush(); err != nil {
					return err
				}
			}
		case recView:
			var cr collectionRec
			if err := bson.Unmarshal(raw, &cr); err != nil {
				return err
			}
			meta.Views = append(meta.Views, cr)
			seen.Views++
		case recEnd:
			if err := flush(); err != nil {
				return err
			}
			var want trailer
			if err := bson.Unmarshal(raw, &want); err != nil {
				return err
			}
			if want != seen {
				return fmt.Errorf("archive says %+v but holds %+v", want, seen)
			}
			if plan != nil {
				if err := plan.Finish(); err != nil {
					return err
				}
			}
			_, err := db.Collection(metaName(staging)).InsertOne(ctx, meta)
			return err
		default:
			return errors.New("archive has a second header")
		}
	}
}

func dropStaged(ctx context.Context, db *mongo.Database, staging string) error {
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("mongo: list collections: %w", err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, staging+"-") {
			if err := db.Collection(n).Drop(ctx); err != nil {
				return fmt.Errorf("mongo: drop %s: %w", n, err)
			}
		}
	}
	return nil
}

// restoredName records, in the live database, which dump and run the
// collections came from; a retried swap that already finished finds it.
const restoredName = "envsync.restored"

// Swap renames each staged collection over its live one, recreates views,
// drops live collections the dump lacks, and records the label. Every step
// checks what is done, so a retry completes instead of failing.
func (e *Engine) Swap(ctx context.Context, staging, label string) error {
	if err := engine.CheckStaging("mongo", staging); err != nil {
		return err
	}
	c, err := e.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	db := c.Database(e.t.Database)
	var meta metaDoc
	err = db.Collection(metaName(staging)).FindOne(ctx, bson.D{{Key: "_id", Value: "meta"}}).Decode(&meta)
	if errors.Is(err, mongo.ErrNoDocuments) {
		var done struct {
			Label string `bson:"label"`
		}
		if db.Collection(restoredName).FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&done) == nil && done.Label == label {
			return nil
		}
		return engine.Permanent(fmt.Errorf("mongo: staged collections %s-* are gone and %s was not restored by this run; start the pull again", staging, e.t.Database))
	} else if err != nil {
		return fmt.Errorf("mongo: read %s: %w", metaName(staging), err)
	}
	existing, err := db.ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("mongo: list collections: %w", err)
	}
	have := map[string]string{}
	for _, s := range existing {
		have[s.Name] = s.Type
	}
	admin := c.Database("admin")
	for _, name := range meta.Collections {
		from := stagedName(staging, name)
		if _, ok := have[from]; !ok {
			continue // moved by an earlier attempt
		}
		if err := rename(ctx, admin, db, e.t.Database, from, name, have[name] != ""); err != nil {
			return err
		}
	}
	want := map[string]bool{}
	for _, n := range meta.Collections {
		want[n] = true
	}
	for _, v := range meta.Views {
		want[v.Name] = true
		_ = db.Collection(v.Name).Drop(ctx) // a view is replaced whole
		var opts bson.D
		_ = bson.Unmarshal(v.Options, &opts)
		if err := db.RunCommand(ctx, append(bson.D{{Key: "create", Value: v.Name}}, opts...)).Err(); err != nil {
			return fmt.Errorf("mongo: the new collections are live, but recreating view %s failed: %w", v.Name, err)
		}
	}
	for name, typ := range have {
		if !want[name] && typ != "" && userCollection(name) {
			if err := db.Collection(name).Drop(ctx); err != nil {
				return fmt.Errorf("mongo: drop %s, which the dump does not have: %w", name, err)
			}
		}
	}
	if _, err := db.Collection(restoredName).ReplaceOne(ctx, bson.D{{Key: "_id", Value: 1}},
		bson.D{{Key: "_id", Value: 1}, {Key: "label", Value: label}}, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("mongo: record the restore label: %w", err)
	}
	return db.Collection(metaName(staging)).Drop(ctx)
}

// rename moves from over to in one renameCollection with dropTarget where
// the server supports it; servers without it (FerretDB) get drop, then
// rename, which leaves that one collection absent for a moment.
func rename(ctx context.Context, admin, db *mongo.Database, database, from, to string, targetExists bool) error {
	cmd := bson.D{{Key: "renameCollection", Value: database + "." + from}, {Key: "to", Value: database + "." + to}, {Key: "dropTarget", Value: true}}
	err := admin.RunCommand(ctx, cmd).Err()
	if err == nil {
		return nil
	}
	if targetExists {
		if derr := db.Collection(to).Drop(ctx); derr != nil {
			return fmt.Errorf("mongo: rename %s over %s: %v; dropping the old one failed: %w", from, to, err, derr)
		}
	}
	if err := admin.RunCommand(ctx, cmd[:2]).Err(); err != nil {
		return fmt.Errorf("mongo: rename %s to %s: %w", from, to, err)
	}
	return nil
}

// Drop removes staged collections left by a pull that did not swap.
func (e *Engine) Drop(ctx context.Context, staging string) error {
	if err := engine.CheckStaging("mongo", staging); err != nil {
		return err
	}
	c, err := e.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	return dropStaged(ctx, c.Database(e.t.Database), staging)
}
