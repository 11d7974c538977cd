package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

var _ engine.Sanitiser = (*Engine)(nil)

// Sanitise applies what of a rule set is left after the stream
// (sanitise.Rules.Residual) to the staged collections, which must be in
// the dump: delete filters (deleteMany), update operations (updateMany),
// then verify filters, which must match nothing. Field rules are applied
// to the documents as they stream in (RestorePlan).
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
		if len(t.Rules) > 0 {
			return fail(fmt.Errorf("rule %s.%s: field rules are applied to the documents as they stream in, not to the restored copy", t.Name, t.Rules[0].Column))
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
