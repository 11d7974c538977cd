package mongo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

var _ engine.Sanitiser = (*Engine)(nil)

// Sanitise applies rules to the staged collections. Collections named must
// be in the dump. Deletes and null/fixed are single deleteMany/updateMany
// calls; per-value transformers (email, hash, lorem, redact, rewrite) are
// computed here and written as bulk updates of 1,000 by _id, since
// FerretDB and DocumentDB lack pipeline updates. Verify filters must match
// nothing.
func (e *Engine) Sanitise(ctx context.Context, staging string, rules *sanitise.Rules, hashKey string) (engine.SanitiseReport, error) {
	rep := engine.SanitiseReport{Rows: map[string]int64{}}
	if err := engine.CheckStaging("mongo", staging); err != nil {
		return rep, err
	}
	c, err := e.connect(ctx)
	if err != nil {
		return rep, err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	db := c.Database(e.t.Database)
	var meta metaDoc
	if err := db.Collection(metaName(staging)).FindOne(ctx, bson.D{{Key: "_id", Value: "meta"}}).Decode(&meta); err != nil {
		return rep, fmt.Errorf("mongo: read %s: %w", metaName(staging), err)
	}
	has := map[string]bool{}
	for _, n := range meta.Collections {
		has[n] = true
	}
	check := func(name string) error {
		if !has[name] {
			return engine.Permanent(fmt.Errorf("mongo: rule %s: no such collection in the dump", name))
		}
		return nil
	}
	for _, t := range rules.Collections {
		if err := check(t.Name); err != nil {
			return rep, err
		}
	}
	for _, u := range rules.MongoUpdates {
		if err := check(u.Collection); err != nil {
			return rep, err
		}
	}
	fail := func(err error) (engine.SanitiseReport, error) {
		return rep, engine.Permanent(fmt.Errorf("mongo: sanitise %s: %s", e.t.Database, engine.Redact(err.Error())))
	}
	for _, t := range rules.Collections {
		coll := db.Collection(stagedName(staging, t.Name))
		if t.DeleteFilter != nil {
			res, err := coll.DeleteMany(ctx, t.DeleteFilter)
			if err != nil {
				return fail(fmt.Errorf("rule %s.delete_where: %w", t.Name, err))
			}
			rep.Rows[t.Name+".delete_where"] = res.DeletedCount
		}
		for _, r := range t.Rules {
			n, err := applyRule(ctx, coll, r, hashKey)
			if err != nil {
				return fail(fmt.Errorf("rule %s.%s (%s): %w", t.Name, r.Column, r.Kind, err))
			}
			rep.Rows[t.Name+"."+r.Column] = n
		}
	}
	for i, u := range rules.MongoUpdates {
		res, err := db.Collection(stagedName(staging, u.Collection)).UpdateMany(ctx, orAll(u.Filter), u.Update)
		if err != nil {
			return fail(fmt.Errorf("mongo_updates[%d]: %w", i, err))
		}
		rep.Rows[fmt.Sprintf("mongo_updates[%d]", i)] = res.ModifiedCount
	}
	for i, v := range rules.MongoVerify {
		if !has[v.Collection] {
			return fail(fmt.Errorf("verify[%d]: no such collection %s in the dump", i, v.Collection))
		}
		n, err := db.Collection(stagedName(staging, v.Collection)).CountDocuments(ctx, orAll(v.Filter))
		if err != nil {
			return fail(fmt.Errorf("verify[%d]: %w", i, err))
		}
		if n != 0 {
			return fail(fmt.Errorf("verify[%d] found %d documents in %s that must not be there", i, n, v.Collection))
		}
		rep.Verified++
	}
	return rep, nil
}

func orAll(f map[string]any) any {
	if f == nil {
		return bson.D{}
	}
	return f
}

func applyRule(ctx context.Context, coll *mongo.Collection, r sanitise.Rule, hashKey string) (int64, error) {
	present := bson.D{{Key: r.Column, Value: bson.D{{Key: "$exists", Value: true}, {Key: "$ne", Value: nil}}}}
	switch r.Kind {
	case "null", "fixed":
		var v any
		if r.Kind == "fixed" {
			v = r.Value
		}
		res, err := coll.UpdateMany(ctx, present, bson.D{{Key: "$set", Value: bson.D{{Key: r.Column, Value: v}}}})
		if err != nil {
			return 0, err
		}
		return res.ModifiedCount, nil
	}
	var transform func(string) string
	switch r.Kind {
	case "email":
		values, err := coll.Distinct(ctx, r.Column, present)
		if err != nil {
			return 0, err
		}
		var list []string
		for _, v := range values {
			if s, ok := v.(string); ok {
				list = append(list, s)
			}
		}
		sort.Strings(list)
		rank := map[string]int{}
		for i, s := range list {
			rank[s] = i + 1
		}
		transform = func(s string) string { return fmt.Sprintf("anonymous-%d@example.com", rank[s]) }
	case "hash":
		if hashKey == "" {
			return 0, errors.New("the hash transformer needs ENVSYNC_HASH_KEY (16 characters or more) on the worker")
		}
		transform = func(s string) string {
			sum := sha256.Sum256([]byte(hashKey + ":" + s))
			return hex.EncodeToString(sum[:])
		}
	case "lorem":
		transform = func(s string) string {
			n := len([]rune(s))
			return string([]rune(strings.Repeat("lorem ipsum dolor sit amet ", n/27+1))[:n])
		}
	case "redact":
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return 0, err
		}
		transform = func(s string) string { return re.ReplaceAllString(s, "[redacted]") }
	case "rewrite":
		transform = func(s string) string { return strings.ReplaceAll(s, r.From, r.To) }
	default:
		return 0, fmt.Errorf("unknown transformer %q", r.Kind)
	}
	cur, err := coll.Find(ctx, present, options.Find().SetProjection(bson.D{{Key: r.Column, Value: 1}}).SetBatchSize(1000))
	if err != nil {
		return 0, err
	}
	defer cur.Close(ctx)
	var n int64
	var batch []mongo.WriteModel
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := coll.BulkWrite(ctx, batch, options.BulkWrite().SetOrdered(false))
		batch = batch[:0]
		return err
	}
	path := strings.Split(r.Column, ".")
	for cur.Next(ctx) {
		v, err := cur.Current.LookupErr(path...)
		if err != nil {
			continue
		}
		s, ok := v.StringValueOK()
		if !ok {
			continue // only strings are transformed; other types are left for null/fixed
		}
		batch = append(batch, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: cur.Current.Lookup("_id")}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: r.Column, Value: transform(s)}}}}))
		n++
		if len(batch) == 1000 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return n, err
	}
	return n, flush()
}
